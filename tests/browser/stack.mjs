// Starts the real local stack for the browser tests, the way scripts/run-local.sh does: the model
// server (with the SageMaker Runtime stand-in) and the proxy serving frontend/, both on
// 127.0.0.1 with ports picked by the OS (PORT=0; the `listening` log line has the address).
// Every wait is bounded; stop() always ends both processes, and so does the exit of this
// Node.js process.

import { spawn } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const sharedDir = path.resolve(process.env.SHARED_DIR || path.join(repoRoot, "..", "shared"));
export const artifactsDir = path.join(repoRoot, "artifacts");

const ENDPOINT = "mobilenet";
const children = new Set();

function killAll(signal) {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        child.kill(signal);
      } catch {
        // already gone
      }
    }
  }
}

// Last resort when the test process ends without calling stop() (a crash, an uncaught error).
process.once("exit", () => killAll("SIGKILL"));
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    killAll("SIGKILL");
    process.exit(130);
  });
}

function requireFile(file, what, hint) {
  if (!existsSync(file)) throw new Error(`${what} not found at ${file}; ${hint}`);
  return file;
}

/** Spawns a service with PORT=0 and resolves its address from the `listening` log line. */
function startService(name, bin, args, env, logDir, timeoutMs) {
  const child = spawn(bin, args, {
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG || "info", ...env, HOST: "127.0.0.1", PORT: "0" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  child.once("exit", () => children.delete(child));
  const log = createWriteStream(path.join(logDir, `${name}.log`));
  child.stderr.pipe(log, { end: false });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`${name} did not log "listening" within ${timeoutMs} ms (see ${log.path})`));
    }, timeoutMs);
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(new Error(`${name} could not start: ${err.message}`));
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited early (code ${code}, signal ${signal}); see ${log.path}`));
    });
    const lines = createInterface({ input: child.stdout });
    lines.on("line", (line) => {
      log.write(`${line}\n`);
      if (!line.includes('"listening"')) return;
      try {
        const entry = JSON.parse(line);
        if (entry.message === "listening" && entry.addr) {
          clearTimeout(timer);
          resolve({ child, addr: entry.addr });
        }
      } catch {
        // not a JSON line
      }
    });
  });
}

async function waitForOk(url, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last = "no answer";
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (response.ok) return;
      last = `HTTP ${response.status}`;
    } catch (err) {
      last = err.message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} not ready within ${timeoutMs} ms (${last})`);
}

async function stopChild(child, timeoutMs = 5000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  const timer = new Promise((resolve) => setTimeout(() => resolve("timeout"), timeoutMs));
  if ((await Promise.race([exited, timer])) === "timeout") {
    child.kill("SIGKILL");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]);
  }
}

/** Starts model server and proxy; returns { baseUrl, stop }. */
export async function startStack() {
  const modelServerBin = requireFile(
    path.resolve(process.env.MODEL_SERVER_BIN || path.join(repoRoot, "target/debug/model-server")),
    "model-server binary",
    "build it (cargo build -p model-server) or set MODEL_SERVER_BIN",
  );
  const proxyBin = requireFile(
    path.resolve(process.env.PROXY_BIN || path.join(repoRoot, "target/debug/proxy")),
    "proxy binary",
    "build it (cargo build -p proxy) or set PROXY_BIN",
  );
  if (!process.env.ORT_DYLIB_PATH) {
    throw new Error('ORT_DYLIB_PATH is not set; run eval "$(scripts/setup.sh)" first (scripts/test-browser.sh does)');
  }
  const modelDir = requireFile(
    path.join(sharedDir, "models", "mobilenetv2-int8"),
    "the shared model",
    "set SHARED_DIR",
  );
  const logDir = path.join(artifactsDir, "browser-tests");
  mkdirSync(logDir, { recursive: true });

  const started = [];
  const stop = async () => {
    await Promise.all(started.map((c) => stopChild(c)));
  };
  try {
    const model = await startService("model-server", modelServerBin, ["serve"], {
      MODEL_DIR: modelDir,
      SAGEMAKER_RUNTIME_API_ENDPOINT: ENDPOINT,
    }, logDir, 30_000);
    started.push(model.child);
    await waitForOk(`http://${model.addr}/ping`, 60_000);

    const proxy = await startService("proxy", proxyBin, [], {
      SAGEMAKER_ENDPOINT_NAME: ENDPOINT,
      SAGEMAKER_ENDPOINT_URL: `http://${model.addr}`,
      STATIC_DIR: path.join(repoRoot, "frontend"),
      AWS_ACCESS_KEY_ID: "local",
      AWS_SECRET_ACCESS_KEY: "local",
      AWS_REGION: "us-east-1",
      AWS_EC2_METADATA_DISABLED: "true",
    }, logDir, 30_000);
    started.push(proxy.child);
    const baseUrl = `http://${proxy.addr}`;
    await waitForOk(`${baseUrl}/health`, 30_000);
    return { baseUrl, modelUrl: `http://${model.addr}`, logDir, stop };
  } catch (err) {
    await stop();
    killAll("SIGKILL");
    throw err;
  }
}
