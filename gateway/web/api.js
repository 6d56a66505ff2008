// The gateway's public API, as the page calls it: the same routes and answers curl gets.
// Every failure becomes an ApiError carrying the API's own message, so the page shows people
// the words the API chose ("The file has no audio track to convert.").

const NETWORK_MESSAGE = "The server could not be reached; check the connection and try again.";
const JOBS_PAGE_SIZE = 50;

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

// The API's errors are all {"error": {"code", "message"}}; anything else (a proxy's error page,
// say) is reported by its status alone.
function errorFromBody(status, statusText, body) {
  if (body && body.error && typeof body.error.message === "string") {
    return new ApiError(status, body.error.code, body.error.message);
  }
  return new ApiError(status, `http_${status}`, `The server answered ${status} ${statusText}`.trim() + ".");
}

async function errorFromResponse(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // Not JSON: errorFromBody falls back to the status.
  }
  return errorFromBody(response.status, response.statusText, body);
}

async function call(path, { method = "GET", token = null, headers = {}, body = undefined } = {}) {
  const sent = { ...headers };
  if (token) {
    sent.Authorization = `Bearer ${token}`;
  }
  let response;
  try {
    // credentials "omit": the page authenticates with its bearer token only. It also keeps the
    // browser from answering /login's Basic challenge (a 401 for a wrong password) with its
    // own password dialog: the page shows the API's message instead.
    response = await fetch(path, { method, headers: sent, body, credentials: "omit", cache: "no-store" });
  } catch {
    throw new ApiError(0, "network_error", NETWORK_MESSAGE);
  }
  if (!response.ok) {
    throw await errorFromResponse(response);
  }
  return response;
}

// HTTP Basic of UTF-8 bytes: btoa() alone accepts only Latin-1 and would throw on "é".
function basicCredentials(email, password) {
  const bytes = new TextEncoder().encode(`${email}:${password}`);
  let binary = "";
  for (const byte of bytes) {
    binary += String.fromCharCode(byte);
  }
  return `Basic ${btoa(binary)}`;
}

export async function register(email, password) {
  await call("/register", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ email, password }),
  });
}

// The answer to /login is the bare token, as text.
export async function login(email, password) {
  const response = await call("/login", { method: "POST", headers: { Authorization: basicCredentials(email, password) } });
  return (await response.text()).trim();
}

// The newest jobs first: {jobs, total, limit, offset}.
export async function listJobs(token) {
  const response = await call(`/jobs?limit=${JOBS_PAGE_SIZE}`, { token });
  return response.json();
}

export async function deleteJob(token, jobId) {
  await call(`/jobs/${encodeURIComponent(jobId)}`, { method: "DELETE", token });
}

// The MP3 as a Blob, with the name the server gives it. The download needs the bearer token,
// which a plain link cannot send, hence fetch and a Blob.
export async function downloadMp3(token, fid, fallbackName) {
  const response = await call(`/download?fid=${encodeURIComponent(fid)}`, { token });
  const blob = await response.blob();
  return { blob, filename: filenameFrom(response.headers.get("Content-Disposition")) || fallbackName };
}

// `attachment; filename="ascii"; filename*=UTF-8''percent-encoded`: the exact name wins.
function filenameFrom(disposition) {
  if (!disposition) {
    return null;
  }
  const exact = /filename\*=UTF-8''([^;]+)/i.exec(disposition);
  if (exact) {
    try {
      return decodeURIComponent(exact[1]);
    } catch {
      // A malformed escape: fall through to the plain name.
    }
  }
  const plain = /filename="([^"]*)"/i.exec(disposition);
  return plain ? plain[1] : null;
}

// XMLHttpRequest rather than fetch: only it reports the bytes sent (upload.onprogress).
// Resolves with the API's answer, {job_id, status, status_url}.
export function upload(token, file, preset, onProgress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", "/upload");
    request.setRequestHeader("Authorization", `Bearer ${token}`);
    request.responseType = "json";
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) {
        onProgress(event.loaded, event.total);
      }
    });
    request.addEventListener("load", () => {
      if (request.status >= 200 && request.status < 300) {
        resolve(request.response);
      } else {
        reject(errorFromBody(request.status, request.statusText, request.response));
      }
    });
    request.addEventListener("error", () => reject(new ApiError(0, "network_error", NETWORK_MESSAGE)));
    request.addEventListener("abort", () => reject(new ApiError(0, "aborted", "The upload was stopped.")));
    const form = new FormData();
    form.append("preset", preset);
    form.append("file", file, file.name);
    request.send(form);
  });
}
