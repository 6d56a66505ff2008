// The page: sign in, upload with a progress bar, follow the jobs, download and delete them.
//
// The session (the bearer token and the email it was issued for) lives in sessionStorage: it
// survives a reload of this tab, is not shared with other tabs and is gone when the tab is
// closed (gateway/README.md says why not localStorage or a cookie).

import * as api from "./api.js";
import { JobList, JobPoller } from "./jobs.js";

const SESSION_KEY = "mp3-converter.session";
const SESSION_ENDED = "Your session has ended; sign in again.";

const byId = (id) => document.getElementById(id);
const view = {
  account: byId("account-view"),
  accountHeading: byId("account-heading"),
  accountForm: byId("account-form"),
  email: byId("email"),
  password: byId("password"),
  accountMessage: byId("account-message"),
  converter: byId("converter-view"),
  converterHeading: byId("converter-heading"),
  signedInAs: byId("signed-in-as"),
  signOut: byId("sign-out"),
  uploadForm: byId("upload-form"),
  dropZone: byId("drop-zone"),
  video: byId("video"),
  quality: byId("quality"),
  uploadButton: byId("upload-button"),
  uploadProgress: byId("upload-progress"),
  uploadProgressText: byId("upload-progress-text"),
  uploadBar: byId("upload-bar"),
  uploadMessage: byId("upload-message"),
  jobsHeading: byId("jobs-heading"),
  jobsMessage: byId("jobs-message"),
  jobsEmpty: byId("jobs-empty"),
  jobsMore: byId("jobs-more"),
  jobs: byId("jobs"),
};

let session = null;

// A message in one of the page's status lines; errors are styled, and announced as alerts.
function say(target, text, kind = "info") {
  target.textContent = text;
  target.classList.toggle("error", kind === "error");
  target.setAttribute("role", kind === "error" ? "alert" : "status");
}

function readSession() {
  try {
    const stored = JSON.parse(sessionStorage.getItem(SESSION_KEY));
    return stored && typeof stored.token === "string" && typeof stored.email === "string" ? stored : null;
  } catch {
    return null;
  }
}

function formatBytes(bytes) {
  const units = ["bytes", "kB", "MB", "GB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${unit ? value.toFixed(1) : value} ${units[unit]}`;
}

// ---- Signing in and out ---------------------------------------------------------------------

function showSignedIn(newSession, { moveFocus }) {
  session = newSession;
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
  view.account.hidden = true;
  view.converter.hidden = false;
  view.signedInAs.textContent = `Signed in as ${session.email}`;
  view.signedInAs.hidden = false;
  view.signOut.hidden = false;
  view.password.value = "";
  say(view.accountMessage, "");
  poller.start();
  if (moveFocus) {
    view.converterHeading.focus();
  }
}

// Back to the sign-in form, with a message saying why (signed out, or the token was refused).
function showSignedOut(message, kind = "info") {
  session = null;
  sessionStorage.removeItem(SESSION_KEY);
  poller.stop();
  jobList.show([]);
  view.converter.hidden = true;
  view.account.hidden = false;
  view.signedInAs.hidden = true;
  view.signOut.hidden = true;
  say(view.uploadMessage, "");
  say(view.jobsMessage, "");
  say(view.accountMessage, message, kind);
  view.email.focus();
}

// A 401 anywhere means the token is no good any more (expired, or the keys rotated).
function handleRefusal(error) {
  if (error instanceof api.ApiError && error.status === 401) {
    showSignedOut(SESSION_ENDED, "error");
    return true;
  }
  return false;
}

view.accountForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const creating = event.submitter && event.submitter.value === "register";
  const email = view.email.value.trim();
  const password = view.password.value;
  const buttons = view.accountForm.querySelectorAll("button");
  buttons.forEach((button) => { button.disabled = true; });
  say(view.accountMessage, creating ? "Creating the account…" : "Signing in…");
  try {
    if (creating) {
      await api.register(email, password);
    }
    const token = await api.login(email, password);
    showSignedIn({ email, token }, { moveFocus: true });
  } catch (error) {
    say(view.accountMessage, error.message, "error");
  } finally {
    buttons.forEach((button) => { button.disabled = false; });
  }
});

view.signOut.addEventListener("click", () => showSignedOut("Signed out."));

// ---- Uploading ------------------------------------------------------------------------------

function showUploadProgress(file, loaded, total) {
  const percent = total ? Math.floor((loaded / total) * 100) : 0;
  view.uploadBar.max = total;
  view.uploadBar.value = loaded;
  view.uploadProgressText.textContent =
    `Sending ${file.name}: ${percent}% of ${formatBytes(total)}`;
}

view.uploadForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const [file] = view.video.files;
  if (!file) {
    say(view.uploadMessage, "Choose a video first, or drop one on the box.", "error");
    view.video.focus();
    return;
  }
  const preset = view.quality.value;
  view.uploadButton.disabled = true;
  view.uploadProgress.hidden = false;
  showUploadProgress(file, 0, file.size);
  say(view.uploadMessage, "");
  try {
    const { token } = session;
    const accepted = await api.upload(token, file, preset, (loaded, total) => showUploadProgress(file, loaded, total));
    if (session === null || session.token !== token) {
      // Signed out while it was sending: the job is that session's, not this page's any more.
      return;
    }
    // Shown at once; the refresh right after brings the server's own view of it.
    jobList.add({ id: accepted.job_id, state: accepted.status, progress: 0, filename: file.name, preset });
    showJobsState();
    say(view.uploadMessage, `${file.name} is uploaded and queued for conversion.`);
    // The quality chosen stays for the next video.
    view.video.value = "";
    poller.refreshNow();
  } catch (error) {
    if (!handleRefusal(error)) {
      say(view.uploadMessage, error.message, "error");
    }
  } finally {
    view.uploadButton.disabled = false;
    view.uploadProgress.hidden = true;
  }
});

// A file dropped on the box is sent at once, with the quality chosen.
for (const type of ["dragenter", "dragover"]) {
  view.dropZone.addEventListener(type, (event) => {
    event.preventDefault();
    view.dropZone.classList.add("dragging");
  });
}
for (const type of ["dragleave", "drop"]) {
  view.dropZone.addEventListener(type, () => view.dropZone.classList.remove("dragging"));
}
view.dropZone.addEventListener("drop", (event) => {
  event.preventDefault();
  if (!event.dataTransfer || event.dataTransfer.files.length === 0 || view.uploadButton.disabled) {
    return;
  }
  view.video.files = event.dataTransfer.files;
  view.uploadForm.requestSubmit(view.uploadButton);
});
// A file dropped beside the box would make the browser leave the page to show the file.
for (const type of ["dragover", "drop"]) {
  document.addEventListener(type, (event) => event.preventDefault());
}

// ---- The job list ---------------------------------------------------------------------------

function showJobsState(total) {
  view.jobsEmpty.hidden = jobList.size > 0;
  const more = total !== undefined && total > jobList.size;
  view.jobsMore.hidden = !more;
  view.jobsMore.textContent = more ? `The ${jobList.size} newest of ${total} jobs are shown.` : "";
}

async function download(job, button) {
  button.disabled = true;
  say(view.jobsMessage, `Downloading the MP3 of ${job.filename}…`);
  try {
    const fallbackName = job.filename.replace(/\.[^.]*$/, "") + ".mp3";
    const { blob, filename } = await api.downloadMp3(session.token, job.mp3_fid, fallbackName);
    const url = URL.createObjectURL(blob);
    const link = document.createElement("a");
    link.href = url;
    link.download = filename;
    document.body.append(link);
    link.click();
    link.remove();
    // The browser has taken the file once the click is handled; the Blob can go after that.
    setTimeout(() => URL.revokeObjectURL(url), 60000);
    say(view.jobsMessage, `Downloaded ${filename}.`);
  } catch (error) {
    if (!handleRefusal(error)) {
      say(view.jobsMessage, error.message, "error");
    }
  } finally {
    button.disabled = false;
  }
}

async function remove(job, button) {
  button.disabled = true;
  try {
    await api.deleteJob(session.token, job.id);
    // Focus goes to the next job's Delete, or the heading, not to the end of the page.
    const item = button.closest("li");
    const next = item.nextElementSibling || item.previousElementSibling;
    jobList.remove(job.id);
    showJobsState();
    say(view.jobsMessage, `Deleted ${job.filename}.`);
    (next ? next.querySelector('[data-action="delete"]') : view.jobsHeading).focus();
  } catch (error) {
    button.disabled = false;
    if (!handleRefusal(error)) {
      say(view.jobsMessage, error.message, "error");
    }
  }
}

const jobList = new JobList(view.jobs, { onDownload: download, onDelete: remove });
const poller = new JobPoller(() => api.listJobs(session.token), {
  onJobs(page) {
    jobList.show(page.jobs);
    showJobsState(page.total);
    if (view.jobsMessage.classList.contains("error")) {
      say(view.jobsMessage, "");
    }
  },
  onError(error) {
    if (handleRefusal(error)) {
      return false;
    }
    say(view.jobsMessage, `The list could not be refreshed: ${error.message}`, "error");
    return true;
  },
});

// ---- Start ----------------------------------------------------------------------------------

const stored = readSession();
if (stored) {
  showSignedIn(stored, { moveFocus: false });
} else {
  view.account.hidden = false;
}
