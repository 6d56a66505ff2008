// The job list: drawn from GET /jobs and kept fresh by polling it.
//
// Each job keeps its own <li> across refreshes, changed in place: a keyboard user's focus on a
// Download button is not lost when the list refreshes under it.

const FINISHED_STATES = new Set(["done", "failed"]);
// While a job is queued or converting the user is watching it move, so once a second. With
// nothing moving, only another tab or curl can add a job: every 15 seconds is enough. A failed
// refresh (a restart, a blip) is retried after 5 seconds.
const BUSY_INTERVAL_MS = 1000;
const IDLE_INTERVAL_MS = 15000;
const RETRY_INTERVAL_MS = 5000;

const PRESET_NAMES = { "vbr-high": "VBR", "128k": "128 kbit/s", "192k": "192 kbit/s", "320k": "320 kbit/s" };

export function isFinished(job) {
  return FINISHED_STATES.has(job.state);
}

function stateText(job) {
  switch (job.state) {
    case "queued":
      return "Queued";
    case "converting":
      return `Converting: ${job.progress}%`;
    case "done":
      return "Done";
    case "failed":
      return "Failed";
    default:
      return job.state;
  }
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (text !== undefined) {
    // textContent, never innerHTML: a file name is the user's text, not markup.
    node.textContent = text;
  }
  return node;
}

export class JobList {
  // onDownload(job, button) and onDelete(job, button) are called on a click of a job's buttons.
  constructor(listElement, { onDownload, onDelete }) {
    this.listElement = listElement;
    this.items = new Map();
    this.jobs = new Map();
    listElement.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-action]");
      if (!button) {
        return;
      }
      const job = this.jobs.get(button.closest("li").dataset.jobId);
      if (job) {
        (button.dataset.action === "download" ? onDownload : onDelete)(job, button);
      }
    });
  }

  // Show exactly these jobs, in this order (the API's: newest first).
  show(jobs) {
    const wanted = new Set(jobs.map((job) => job.id));
    for (const [jobId, item] of this.items) {
      if (!wanted.has(jobId)) {
        item.remove();
        this.items.delete(jobId);
        this.jobs.delete(jobId);
      }
    }
    let previous = null;
    for (const job of jobs) {
      const item = this.items.get(job.id) || this.create(job);
      this.update(item, job);
      const expectedPlace = previous ? previous.nextElementSibling : this.listElement.firstElementChild;
      if (expectedPlace !== item) {
        this.listElement.insertBefore(item, expectedPlace);
      }
      previous = item;
    }
  }

  // A job the page just created, shown before the next refresh lists it.
  add(job) {
    this.show([job, ...[...this.jobs.values()].filter((known) => known.id !== job.id)]);
  }

  remove(jobId) {
    this.show([...this.jobs.values()].filter((job) => job.id !== jobId));
  }

  get size() {
    return this.items.size;
  }

  create(job) {
    const item = element("li", "job");
    item.dataset.jobId = job.id;
    const nameId = `job-${job.id}-name`;
    const stateId = `job-${job.id}-state`;

    const head = element("div", "job-head");
    const name = element("span", "job-name");
    name.id = nameId;
    const details = element("span", "job-details");
    head.append(name, details);

    const state = element("p", "job-state");
    state.id = stateId;
    const progress = element("progress", "job-progress");
    progress.max = 100;
    progress.setAttribute("aria-labelledby", `${nameId} ${stateId}`);
    const reason = element("p", "job-error");

    const actions = element("div", "actions");
    const download = element("button", "", "Download");
    download.type = "button";
    download.dataset.action = "download";
    const remove = element("button", "secondary", "Delete");
    remove.type = "button";
    remove.dataset.action = "delete";
    // The name says what the button does; the description says which job it does it to.
    for (const button of [download, remove]) {
      button.setAttribute("aria-describedby", nameId);
    }
    actions.append(download, remove);

    item.append(head, state, progress, reason, actions);
    this.items.set(job.id, item);
    return item;
  }

  update(item, job) {
    this.jobs.set(job.id, job);
    item.dataset.state = job.state;
    item.querySelector(".job-name").textContent = job.filename;
    const created = job.created_at ? new Date(job.created_at).toLocaleString() : "";
    item.querySelector(".job-details").textContent = [PRESET_NAMES[job.preset] || job.preset, created]
      .filter(Boolean)
      .join(" · ");
    item.querySelector(".job-state").textContent = stateText(job);

    const progress = item.querySelector(".job-progress");
    progress.hidden = isFinished(job);
    if (job.state === "converting") {
      progress.value = job.progress;
    } else {
      // No value: an indeterminate bar, for a job still waiting in the queue.
      progress.removeAttribute("value");
    }

    const reason = item.querySelector(".job-error");
    reason.hidden = !(job.state === "failed" && job.error);
    reason.textContent = job.error || "";

    item.querySelector('[data-action="download"]').hidden = !(job.state === "done" && job.mp3_fid);
  }
}

// Calls fetchJobs() now and again: every second while a job is unfinished, every 15 seconds
// otherwise, never while the tab is hidden (a hidden tab costs the server nothing; showing it
// again refreshes at once). One refresh at a time; a newer one makes an older answer moot.
export class JobPoller {
  constructor(fetchJobs, { onJobs, onError }) {
    this.fetchJobs = fetchJobs;
    this.onJobs = onJobs;
    this.onError = onError;
    this.running = false;
    this.timer = null;
    this.generation = 0;
    document.addEventListener("visibilitychange", () => {
      if (!this.running) {
        return;
      }
      if (document.hidden) {
        this.cancel();
      } else {
        this.refreshNow();
      }
    });
  }

  start() {
    this.running = true;
    this.refreshNow();
  }

  stop() {
    this.running = false;
    this.cancel();
  }

  cancel() {
    clearTimeout(this.timer);
    this.timer = null;
    // An answer still on its way is dropped when it comes.
    this.generation += 1;
  }

  async refreshNow() {
    this.cancel();
    if (!this.running || document.hidden) {
      return;
    }
    const generation = this.generation;
    let delay;
    try {
      const page = await this.fetchJobs();
      if (generation !== this.generation) {
        return;
      }
      this.onJobs(page);
      delay = page.jobs.some((job) => !isFinished(job)) ? BUSY_INTERVAL_MS : IDLE_INTERVAL_MS;
    } catch (error) {
      if (generation !== this.generation) {
        return;
      }
      // onError says whether to go on (false after a 401: the user is signed out).
      if (!this.onError(error)) {
        return;
      }
      delay = RETRY_INTERVAL_MS;
    }
    if (this.running && generation === this.generation) {
      this.timer = setTimeout(() => this.refreshNow(), delay);
    }
  }
}
