// The prediction page: choose, drop or paste a photo, shrink it in the browser when it is larger
// than the model needs, POST it to /predict and show the top classes, the latency breakdown and
// the trace id. No framework and no build step. Every text from data goes in with textContent,
// and nothing here needs inline script or style, so the page runs under a strict CSP.

const config = window.APP_CONFIG || {};
const API_BASE = String(config.apiUrl || "").replace(/\/+$/, "");
const PREDICT_URL = `${API_BASE}/predict`;

/** The proxy's MAX_IMAGE_BYTES (default: the SageMaker Serverless payload limit). */
const MAX_UPLOAD_BYTES = Number(config.maxUploadBytes) > 0 ? Number(config.maxUploadBytes) : 4 * 1024 * 1024;
/** Longest side sent to the model; it only looks at 224 x 224 after resizing to 256. */
const MAX_SIDE = 1024;
const JPEG_QUALITIES = [0.9, 0.8, 0.7, 0.6];
const TOP_K = 5;
/** Automatic retries of a busy answer (503 or 429), each after Retry-After; a longer
 * Retry-After is not cut short: the page stops and says when to try again. */
const MAX_RETRIES = 3;
const MAX_RETRY_WAIT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 30_000;
/** Formats the proxy accepts, found from the magic bytes (as the proxy does). */
const SERVER_TYPES = new Set(["image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp"]);
/** Keeps numbers and their units on one line. */
const NBSP = "\u00a0";

const $ = (id) => document.getElementById(id);
const el = {
  dropzone: $("dropzone"),
  dropzoneTitle: $("dropzone-title"),
  fileInput: $("file-input"),
  preview: $("preview"),
  fileInfo: $("file-info"),
  fileName: $("file-name"),
  fileMeta: $("file-meta"),
  uploadInfo: $("upload-info"),
  predict: $("predict"),
  predictLabel: $("predict-label"),
  clear: $("clear"),
  status: $("status"),
  error: $("error"),
  errorTitle: $("error-title"),
  errorText: $("error-text"),
  errorMeta: $("error-meta"),
  output: $("output"),
  placeholder: $("placeholder"),
  results: $("results"),
  predictions: $("predictions"),
  latencyTotal: $("latency-total"),
  latencyBar: $("latency-bar"),
  latencyList: $("latency-list"),
  coldProxy: $("cold-proxy"),
  coldModel: $("cold-model"),
  modelName: $("model-name"),
  traceId: $("trace-id"),
  copyTrace: $("copy-trace"),
  requestId: $("request-id"),
};

/** What will be uploaded: { blob, type, width, height, resized, original: {...} }. */
let prepared = null;
let previewUrl = null;
/** Incremented on every new selection and prediction, so stale async work is dropped. */
let generation = 0;
let inFlight = null;

// ---------------------------------------------------------------------------------------------
// Words for every error the page can meet.

/** An error to show to people: a title and a sentence, plus the HTTP status, code and request id. */
class UserError extends Error {
  constructor(title, text, meta = {}) {
    super(text);
    this.title = title;
    this.text = text;
    this.meta = meta;
  }
}

const LIMIT_WORDS = formatBytes(MAX_UPLOAD_BYTES);

const ERROR_WORDS = {
  empty_body: ["The image is empty", "The file has no content. Choose another photo."],
  invalid_json: ["The request was not understood", "The service could not read the request. Reload the page and try again."],
  invalid_base64: ["The request was not understood", "The service could not read the request. Reload the page and try again."],
  invalid_parameter: ["The request was not understood", "The service refused a setting sent by this page. Reload the page and try again."],
  unreadable_body: ["The upload was interrupted", "The image did not arrive completely. Check your connection and try again."],
  body_timeout: ["The upload took too long", "The image did not arrive in time. Check your connection and try again."],
  unsupported_media_type: ["This file type is not supported", "The service reads JPEG, PNG, GIF, WebP and BMP images. Choose a photo in one of these formats."],
  payload_too_large: ["The image is too large", `Uploads are limited to ${LIMIT_WORDS}. Choose a smaller photo.`],
  image_too_large: ["The image has too many pixels", "The model accepts images up to 40 megapixels. Choose a smaller photo."],
  invalid_image: ["The image could not be read", "The file looks damaged or incomplete. Choose another photo."],
  busy: ["The service is busy", "It is still busy after several automatic retries. Wait a few seconds and press Predict again."],
  overloaded: ["The service is busy", "It is still busy after several automatic retries. Wait a few seconds and press Predict again."],
  model_loading: ["The model is starting", "The model is still loading. Wait a few seconds and press Predict again."],
  model_unavailable: ["The model is unavailable", "The model could not be loaded. Please try again later."],
  model_error: ["The model failed on this image", "The model could not process this photo. Try again, or try another photo."],
  upstream_timeout: ["The model did not answer in time", "This can happen while the model starts. Press Predict to try again."],
  upstream_unavailable: ["The model cannot be reached", "The classification service is unreachable right now. Please try again in a minute."],
  internal: ["Something went wrong on our side", "The service failed unexpectedly. Please try again later."],
  not_found: ["The service was not found", "This page is not connected to the classification API. Please report this problem."],
};

/** Words for an HTTP status when the body is not our JSON (e.g. an API Gateway page). */
function wordsForStatus(status) {
  if (status === 413) return ERROR_WORDS.payload_too_large;
  if (status === 415) return ERROR_WORDS.unsupported_media_type;
  if (status === 429 || status === 503) return ERROR_WORDS.busy;
  if (status === 504) return ERROR_WORDS.upstream_timeout;
  if (status === 502) return ["The service had a problem", "The gateway got no valid answer from the service. Please try again in a minute."];
  if (status === 401 || status === 403) return ["Access was refused", "The API refused this page's request. Please report this problem."];
  if (status === 404) return ERROR_WORDS.not_found;
  if (status >= 500) return ["The service had a problem", "The service failed unexpectedly. Please try again later."];
  if (status >= 400) return ["The request was refused", "The service refused this photo. Try another photo."];
  return ["Unexpected answer", "The service answered in a way this page does not understand. Please try again."];
}

function errorFromResponse(status, body) {
  const code = body && body.error && typeof body.error.code === "string" ? body.error.code : null;
  const requestId = body && body.error && typeof body.error.request_id === "string" ? body.error.request_id : "";
  const [title, text] = (code && ERROR_WORDS[code]) || wordsForStatus(status);
  return new UserError(title, text, { status, code, requestId });
}

// ---------------------------------------------------------------------------------------------
// Formatting.

function formatBytes(n) {
  if (n < 1024) return `${n}${NBSP}B`;
  if (n < 1024 * 1024) return `${Math.round(n / 1024)}${NBSP}KB`;
  const mib = n / (1024 * 1024);
  return `${mib < 10 ? mib.toFixed(1).replace(/\.0$/, "") : Math.round(mib)}${NBSP}MB`;
}

function formatSize(width, height) {
  return `${width}${NBSP}×${NBSP}${height}`;
}

function formatMs(ms) {
  if (!Number.isFinite(ms)) return "–";
  if (ms < 10) return `${ms.toFixed(1)}${NBSP}ms`;
  if (ms < 10_000) return `${Math.round(ms)}${NBSP}ms`;
  return `${(ms / 1000).toFixed(1)}${NBSP}s`;
}

function formatPercent(p) {
  const pct = p * 100;
  if (pct >= 99.95 && pct < 100) return "99.9%"; // never round a non-certain answer up to 100%
  if (pct >= 1) return `${pct.toFixed(1)}%`;
  if (pct >= 0.1) return `${pct.toFixed(2)}%`;
  return "< 0.1%";
}

function typeName(mime) {
  const known = { "image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF", "image/webp": "WebP", "image/bmp": "BMP" };
  return known[mime] || (mime ? mime.replace(/^image\//, "").toUpperCase() : "unknown type");
}

// ---------------------------------------------------------------------------------------------
// Preparing the upload.

/** The image format from the first bytes, as the proxy detects it; null when not one of them. */
async function sniffType(blob) {
  const b = new Uint8Array(await blob.slice(0, 12).arrayBuffer());
  const ascii = (from, to) => String.fromCharCode(...b.slice(from, to));
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return "image/jpeg";
  if (b.length >= 8 && b[0] === 0x89 && ascii(1, 4) === "PNG" && b[4] === 0x0d && b[5] === 0x0a && b[6] === 0x1a && b[7] === 0x0a) return "image/png";
  if (b.length >= 6 && (ascii(0, 6) === "GIF87a" || ascii(0, 6) === "GIF89a")) return "image/gif";
  if (b.length >= 12 && ascii(0, 4) === "RIFF" && ascii(8, 12) === "WEBP") return "image/webp";
  if (b.length >= 2 && ascii(0, 2) === "BM") return "image/bmp";
  return null;
}

/** Decodes an image (EXIF orientation applied); rejects when the browser cannot read it. */
function decodeImage(url) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.decoding = "async";
    img.onload = () => {
      if (img.naturalWidth > 0 && img.naturalHeight > 0) resolve(img);
      else reject(new Error("image without size"));
    };
    img.onerror = () => reject(new Error("not decodable"));
    img.src = url;
  });
}

function canvasToBlob(canvas, type, quality) {
  return new Promise((resolve) => canvas.toBlob(resolve, type, quality));
}

/** Draws `img` at width x height: halving steps first, so the result is smooth, not aliased. */
function drawScaled(img, srcW, srcH, width, height) {
  let source = img;
  let w = srcW;
  let h = srcH;
  let first = true;
  const step = (tw, th) => {
    const canvas = document.createElement("canvas");
    canvas.width = tw;
    canvas.height = th;
    const ctx = canvas.getContext("2d");
    if (!ctx) throw new Error("no canvas");
    if (first) {
      // JPEG has no alpha: transparent areas become white rather than black.
      ctx.fillStyle = "#ffffff";
      ctx.fillRect(0, 0, tw, th);
      first = false;
    }
    ctx.imageSmoothingEnabled = true;
    ctx.imageSmoothingQuality = "high";
    ctx.drawImage(source, 0, 0, w, h, 0, 0, tw, th);
    source = canvas;
    w = tw;
    h = th;
  };
  while (w / 2 >= width * 1.5 && h / 2 >= height * 1.5) step(Math.round(w / 2), Math.round(h / 2));
  step(width, height);
  return source;
}

async function encodeJpeg(img, srcW, srcH, width, height) {
  const canvas = drawScaled(img, srcW, srcH, width, height);
  for (const quality of JPEG_QUALITIES) {
    const blob = await canvasToBlob(canvas, "image/jpeg", quality);
    if (blob && blob.size <= MAX_UPLOAD_BYTES) return blob;
  }
  return null;
}

/**
 * Decides what to upload for `file`: the original when the proxy can read it and it is small
 * enough, otherwise a JPEG re-encoded in the browser with the longest side at most MAX_SIDE.
 * The original is never sent when it is over the limit.
 */
async function prepareUpload(file) {
  if (file.size === 0) throw new UserError(...ERROR_WORDS.empty_body);
  const sniffed = await sniffType(file);
  const url = URL.createObjectURL(file);
  let img = null;
  try {
    img = await decodeImage(url);
  } catch {
    img = null;
  }
  const original = { name: file.name || "pasted image", size: file.size, type: sniffed || file.type || "" };

  if (!img) {
    URL.revokeObjectURL(url);
    if (!sniffed) {
      throw new UserError(
        "This file is not a supported image",
        "Choose a JPEG, PNG, GIF, WebP or BMP photo.",
      );
    }
    if (file.size > MAX_UPLOAD_BYTES) {
      throw new UserError(
        "The image is too large",
        `It is ${formatBytes(file.size)}, over the ${LIMIT_WORDS} upload limit, and this browser cannot read it to shrink it. Choose a smaller photo.`,
      );
    }
    // A format the proxy reads but this browser does not display: send it as it is.
    return { blob: file, type: sniffed, width: null, height: null, resized: false, original, previewUrl: null };
  }

  const width = img.naturalWidth;
  const height = img.naturalHeight;
  original.width = width;
  original.height = height;
  const longest = Math.max(width, height);
  const mustReencode = longest > MAX_SIDE || file.size > MAX_UPLOAD_BYTES || !SERVER_TYPES.has(sniffed);
  if (!mustReencode) {
    return { blob: file, type: sniffed, width, height, resized: false, original, previewUrl: url };
  }
  const scale = Math.min(1, MAX_SIDE / longest);
  const tw = Math.max(1, Math.round(width * scale));
  const th = Math.max(1, Math.round(height * scale));
  let blob = null;
  try {
    blob = await encodeJpeg(img, width, height, tw, th);
  } catch {
    blob = null;
  }
  if (!blob) {
    URL.revokeObjectURL(url);
    throw new UserError(
      "The image could not be prepared",
      `This browser could not shrink the photo below the ${LIMIT_WORDS} upload limit. Choose a smaller photo.`,
    );
  }
  return { blob, type: "image/jpeg", width: tw, height: th, resized: true, original, previewUrl: url };
}

// ---------------------------------------------------------------------------------------------
// Page state.

function setStatus(text) {
  el.status.textContent = text;
}

function showError(err) {
  el.errorTitle.textContent = err.title;
  el.errorText.textContent = err.text;
  const meta = [];
  if (err.meta && err.meta.status) meta.push(`HTTP ${err.meta.status}`);
  if (err.meta && err.meta.code) meta.push(`code ${err.meta.code}`);
  if (err.meta && err.meta.requestId) meta.push(`request id ${err.meta.requestId}`);
  el.errorMeta.textContent = meta.join(" · ");
  el.errorMeta.hidden = meta.length === 0;
  el.error.hidden = false;
  // An error replaces any earlier result, so that nobody reads an old answer as the new one.
  el.results.hidden = true;
  el.placeholder.hidden = true;
}

function clearError() {
  el.error.hidden = true;
  el.errorTitle.textContent = "";
  el.errorText.textContent = "";
  el.errorMeta.textContent = "";
  el.placeholder.hidden = !el.results.hidden;
}

function showResults(visible) {
  el.results.hidden = !visible;
  el.placeholder.hidden = visible;
}

function setBusy(busy) {
  // While predicting the button stays focusable (aria-disabled, clicks ignored): disabling the
  // focused button would throw keyboard users' focus back to the top of the page.
  el.predict.disabled = !prepared;
  el.predict.setAttribute("aria-disabled", busy ? "true" : "false");
  el.predict.classList.toggle("is-busy", busy);
  el.predictLabel.textContent = busy ? "Predicting…" : "Predict";
  el.output.setAttribute("aria-busy", busy ? "true" : "false");
}

function resetSelection() {
  generation += 1;
  if (inFlight) inFlight.abort();
  inFlight = null;
  if (previewUrl) URL.revokeObjectURL(previewUrl);
  previewUrl = null;
  prepared = null;
  el.preview.hidden = true;
  el.preview.removeAttribute("src");
  el.preview.alt = "";
  el.dropzone.classList.remove("has-image");
  el.dropzoneTitle.textContent = "";
  el.dropzoneTitle.append("Drop a photo here or ");
  const link = document.createElement("span");
  link.className = "fake-link";
  link.textContent = "browse";
  el.dropzoneTitle.append(link);
  el.fileInfo.hidden = true;
  el.clear.hidden = true;
  setBusy(false);
}

async function selectFile(file) {
  resetSelection();
  const mine = generation;
  clearError();
  showResults(false);
  setStatus("Reading the photo…");
  el.fileName.textContent = file.name || "Pasted image";
  el.fileMeta.textContent = ` · ${formatBytes(file.size)}`;
  el.uploadInfo.textContent = "";
  el.fileInfo.hidden = false;
  el.clear.hidden = false;
  try {
    const ready = await prepareUpload(file);
    if (mine !== generation) {
      if (ready.previewUrl) URL.revokeObjectURL(ready.previewUrl);
      return;
    }
    prepared = ready;
    previewUrl = ready.previewUrl;
    if (previewUrl) {
      el.preview.src = previewUrl;
      el.preview.alt = `Preview of ${ready.original.name}`;
      el.preview.hidden = false;
      el.dropzone.classList.add("has-image");
      el.dropzoneTitle.textContent = "Replace photo: drop, paste or browse";
    }
    const o = ready.original;
    const dims = o.width ? ` · ${formatSize(o.width, o.height)}` : "";
    el.fileMeta.textContent = ` · ${typeName(o.type)}${dims} · ${formatBytes(o.size)}`;
    el.uploadInfo.textContent = ready.resized
      ? `Will upload a ${formatSize(ready.width, ready.height)} JPEG of ${formatBytes(ready.blob.size)}, shrunk in your browser.`
      : `Will upload the original (${formatBytes(ready.blob.size)}).`;
    setStatus("Ready. Press Predict.");
    setBusy(false);
  } catch (err) {
    if (mine !== generation) return;
    prepared = null;
    setStatus("");
    el.uploadInfo.textContent = "Nothing will be uploaded.";
    showError(err instanceof UserError ? err : new UserError("The photo could not be read", "Choose another photo."));
    setBusy(false);
  }
}

// ---------------------------------------------------------------------------------------------
// Calling the API.

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(new DOMException("aborted", "AbortError"));
    }, { once: true });
  });
}

/** Retry-After as seconds or an HTTP date; 1, 2, 4 s when absent; at least 0.25 s. */
function retryDelayMs(header, retry) {
  let ms = NaN;
  if (header) {
    const seconds = Number(header.trim());
    ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(header) - Date.now();
  }
  if (!Number.isFinite(ms)) ms = 1000 * 2 ** retry;
  return Math.max(ms, 250);
}

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function isPrediction(body) {
  return body !== null && typeof body === "object" && Array.isArray(body.predictions)
    && body.predictions.every((p) => p && typeof p.label === "string" && typeof p.probability === "number");
}

async function predict() {
  if (!prepared || inFlight) return;
  const upload = prepared;
  const mine = generation;
  const controller = new AbortController();
  inFlight = controller;
  clearError();
  setBusy(true);
  setStatus("Uploading and classifying…");
  try {
    for (let retry = 0; ; retry += 1) {
      const timeout = setTimeout(() => controller.abort(new DOMException("timeout", "TimeoutError")), REQUEST_TIMEOUT_MS);
      const started = performance.now();
      let response;
      let text;
      try {
        response = await fetch(`${PREDICT_URL}?top_k=${TOP_K}`, {
          method: "POST",
          headers: { "Content-Type": upload.type },
          body: upload.blob,
          signal: controller.signal,
          cache: "no-store",
          credentials: "omit",
        });
        text = await response.text();
      } finally {
        clearTimeout(timeout);
      }
      const elapsed = performance.now() - started;
      const body = parseJson(text);
      if (response.ok && isPrediction(body)) {
        renderResult(body, elapsed, response);
        setStatus(retry > 0 ? `Done after ${retry} ${retry === 1 ? "retry" : "retries"}.` : "Done.");
        return;
      }
      if (response.ok) {
        throw new UserError("Unexpected answer", "The service answered in a way this page does not understand. Please try again.", { status: response.status });
      }
      const busy = response.status === 503 || response.status === 429;
      const wait = busy ? retryDelayMs(response.headers.get("Retry-After"), retry) : 0;
      if (busy && retry < MAX_RETRIES && wait <= MAX_RETRY_WAIT_MS) {
        const seconds = Math.max(1, Math.round(wait / 1000));
        setStatus(`The service is busy. Retrying in ${seconds} s (retry ${retry + 1} of ${MAX_RETRIES})…`);
        await sleep(wait, controller.signal);
        setStatus(`Retrying (retry ${retry + 1} of ${MAX_RETRIES})…`);
        continue;
      }
      if (busy && wait > MAX_RETRY_WAIT_MS) {
        const seconds = Math.ceil(wait / 1000);
        const error = errorFromResponse(response.status, body);
        throw new UserError(error.title, `It asked to wait ${seconds}${NBSP}s before trying again. Press Predict again after that.`, error.meta);
      }
      throw errorFromResponse(response.status, body);
    }
  } catch (err) {
    if (mine !== generation) return; // a new photo was chosen meanwhile
    setStatus("");
    if (err instanceof UserError) {
      showError(err);
    } else if (err && err.name === "AbortError" && controller.signal.reason && controller.signal.reason.name === "TimeoutError") {
      showError(new UserError("No answer in time", `The service did not answer within ${REQUEST_TIMEOUT_MS / 1000} s. Press Predict to try again.`));
    } else if (err && (err.name === "TimeoutError")) {
      showError(new UserError("No answer in time", `The service did not answer within ${REQUEST_TIMEOUT_MS / 1000} s. Press Predict to try again.`));
    } else {
      showError(new UserError("The service cannot be reached", "Check your internet connection and press Predict to try again."));
    }
  } finally {
    if (inFlight === controller) inFlight = null;
    if (mine === generation) setBusy(false);
  }
}

// ---------------------------------------------------------------------------------------------
// Rendering a result.

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function traceFrom(body, response) {
  if (typeof body.trace_id === "string" && body.trace_id) return body.trace_id;
  const header = response.headers.get("X-Amzn-Trace-Id") || "";
  const match = /Root=([^;]+)/.exec(header);
  return match ? match[1] : "";
}

function num(v) {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

function renderLatency(elapsed, timings) {
  el.latencyTotal.textContent = formatMs(elapsed);
  el.latencyBar.replaceChildren();
  el.latencyList.replaceChildren();
  const t = timings && typeof timings === "object" ? timings : {};
  const proxyTotal = num(t.total_ms);
  const upstream = num(t.upstream_ms);
  const decode = num(t.decode_ms);
  const preprocess = num(t.preprocess_ms);
  const inference = num(t.inference_ms);

  const parts = [];
  if (proxyTotal !== null) {
    parts.push({ key: "network", label: "Network", hint: "upload and answer, browser ↔ API", ms: Math.max(0, elapsed - proxyTotal) });
    if (upstream !== null) {
      parts.push({ key: "proxy", label: "Proxy", hint: "checks and API overhead", ms: Math.max(0, proxyTotal - upstream) });
      const model = [decode, preprocess, inference];
      if (model.every((v) => v !== null)) {
        const inside = decode + preprocess + inference;
        parts.push({ key: "upstream", label: "Model call", hint: "transfer to the model endpoint", ms: Math.max(0, upstream - inside) });
        parts.push({ key: "decode", label: "Decode", hint: "image decoding", ms: decode });
        parts.push({ key: "preprocess", label: "Preprocess", hint: "resize, crop, normalise", ms: preprocess });
        parts.push({ key: "inference", label: "Inference", hint: "MobileNet V2", ms: inference });
      } else {
        parts.push({ key: "upstream", label: "Model", hint: "SageMaker endpoint", ms: upstream });
      }
    } else {
      parts.push({ key: "proxy", label: "Service", hint: "time inside the API", ms: proxyTotal });
    }
  }
  const sum = parts.reduce((a, p) => a + p.ms, 0);
  for (const part of parts) {
    if (sum > 0) {
      const seg = element("span", `segment segment-${part.key}`);
      seg.style.setProperty("width", `${((part.ms / sum) * 100).toFixed(2)}%`);
      el.latencyBar.append(seg);
    }
    const row = element("div", "latency-row");
    const dt = element("dt");
    const name = element("span", "latency-name");
    name.append(element("span", "latency-label", part.label), " ", element("span", "latency-hint", part.hint));
    dt.append(element("span", `swatch segment-${part.key}`), name);
    row.append(dt, element("dd", "latency-ms", formatMs(part.ms)));
    el.latencyList.append(row);
  }
  el.latencyBar.hidden = sum <= 0;
}

function renderCold(node, who, cold) {
  node.classList.toggle("badge-cold", cold === true);
  node.classList.toggle("badge-warm", cold === false);
  node.textContent = cold === true ? `${who}: cold start` : cold === false ? `${who}: warm` : `${who}: unknown`;
}

function renderResult(body, elapsed, response) {
  el.predictions.replaceChildren();
  body.predictions.slice(0, TOP_K).forEach((p, i) => {
    const li = element("li", i === 0 ? "prediction is-top" : "prediction");
    const head = element("div", "prediction-head");
    head.append(element("span", "prediction-label", p.label), element("span", "prediction-pct", formatPercent(p.probability)));
    const bar = element("div", "bar");
    bar.setAttribute("aria-hidden", "true");
    const fill = element("span", "bar-fill");
    fill.style.setProperty("width", `${Math.min(100, Math.max(0, p.probability * 100)).toFixed(2)}%`);
    bar.append(fill);
    li.append(head, bar);
    el.predictions.append(li);
  });
  renderLatency(elapsed, body.timings);
  const cold = body.cold_start && typeof body.cold_start === "object" ? body.cold_start : {};
  renderCold(el.coldProxy, "Proxy", cold.proxy);
  renderCold(el.coldModel, "Model", cold.model);
  const model = body.model && typeof body.model === "object" ? body.model : {};
  el.modelName.textContent = [model.name, model.version].filter((v) => typeof v === "string" && v).join(" · ") || "–";
  const trace = traceFrom(body, response);
  el.traceId.textContent = trace || "–";
  el.copyTrace.hidden = !trace;
  el.copyTrace.textContent = "Copy";
  el.requestId.textContent = typeof body.request_id === "string" && body.request_id ? body.request_id : "–";
  showResults(true);
}

// ---------------------------------------------------------------------------------------------
// Copying the trace id.

function copyWithSelection(text) {
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.className = "offscreen";
  document.body.append(area);
  area.select();
  let ok = false;
  try {
    ok = document.execCommand("copy");
  } catch {
    ok = false;
  }
  area.remove();
  return ok;
}

async function copyTrace() {
  const text = el.traceId.textContent;
  if (!text || text === "–") return;
  let ok = false;
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      ok = true;
    } catch {
      ok = false;
    }
  }
  if (!ok) ok = copyWithSelection(text);
  if (ok) {
    el.copyTrace.textContent = "Copied";
    setStatus("Trace id copied to the clipboard.");
    setTimeout(() => { el.copyTrace.textContent = "Copy"; }, 2000);
  } else {
    // Last resort: select the id so people can copy it with the keyboard.
    const range = document.createRange();
    range.selectNodeContents(el.traceId);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    setStatus("Copying is blocked here; the trace id is selected, press Ctrl+C (⌘C) to copy it.");
  }
}

// ---------------------------------------------------------------------------------------------
// Getting a file: picker, drag and drop, paste.

function firstImageFile(dataTransfer) {
  if (!dataTransfer) return null;
  const files = Array.from(dataTransfer.files || []);
  if (files.length === 0 && dataTransfer.items) {
    for (const item of Array.from(dataTransfer.items)) {
      if (item.kind === "file") {
        const f = item.getAsFile();
        if (f) files.push(f);
      }
    }
  }
  return files.find((f) => f.type.startsWith("image/")) || files[0] || null;
}

function openPicker() {
  el.fileInput.value = "";
  el.fileInput.click();
}

el.dropzone.addEventListener("click", openPicker);
el.dropzone.addEventListener("keydown", (event) => {
  if ((event.key === "Enter" || event.key === " " || event.key === "Spacebar") && !event.repeat) {
    event.preventDefault();
    openPicker();
  }
});
el.fileInput.addEventListener("change", () => {
  const file = el.fileInput.files && el.fileInput.files[0];
  if (file) selectFile(file);
});

let dragDepth = 0;
el.dropzone.addEventListener("dragenter", (event) => {
  event.preventDefault();
  dragDepth += 1;
  el.dropzone.classList.add("is-dragover");
});
el.dropzone.addEventListener("dragleave", () => {
  dragDepth = Math.max(0, dragDepth - 1);
  if (dragDepth === 0) el.dropzone.classList.remove("is-dragover");
});
// Dropping anywhere on the page works; without this the browser would open the file instead.
document.addEventListener("dragover", (event) => {
  event.preventDefault();
  if (event.dataTransfer) event.dataTransfer.dropEffect = "copy";
});
document.addEventListener("drop", (event) => {
  event.preventDefault();
  dragDepth = 0;
  el.dropzone.classList.remove("is-dragover");
  const file = firstImageFile(event.dataTransfer);
  if (file) selectFile(file);
});

document.addEventListener("paste", (event) => {
  const file = firstImageFile(event.clipboardData);
  if (!file) return; // pasted text: leave it to the focused field, if any
  event.preventDefault();
  selectFile(file);
});

el.predict.addEventListener("click", predict);
el.clear.addEventListener("click", () => {
  resetSelection();
  clearError();
  showResults(false);
  setStatus("");
  el.dropzone.focus();
});
el.copyTrace.addEventListener("click", copyTrace);

resetSelection();
document.documentElement.classList.add("js-ready");
