// Replays conformance calls through the official `openai` npm package, as a JavaScript application would.
//
// One long-lived process per run (conformance/node_sdk.py starts it). JSON lines in, JSON lines out:
//   in:  {"id": 1, "op": "call", "base_url", "api_key", "timeout_ms", "path": ["chat", "completions", "create"],
//         "args": [...], "default_headers": {...}}
//        {"id": 1, "op": "cancel"}   (the case's deadline passed: abort the call, no reply)
//   out: {"type": "ready", "sdk_version"}                     once, at start
//        {"id", "type": "request", "method", "url", "headers", "body"}
//        {"id", "type": "response", "status", "headers"}
//        {"id", "type": "body", "data": <base64>}              as the bytes arrive, so a timeout keeps them
//        {"id", "type": "done", "error": null | {"kind", "name", "message"}}
// Calls run concurrently, each with its own client whose fetch records the request and tees the
// response bytes: the SDK parses one branch exactly as it would in an application, the other branch is
// the evidence. What the SDK throws is classified here, where its error classes are known:
//   status      an HTTP 4xx/5xx (the status and body are in the capture; not the SDK's finding)
//   timeout     no answer within timeout_ms          connection  the request did not get an answer
//   decode      the SDK could not parse JSON         sdk         any other throw on a 2xx answer
//   missing     the SDK has no such method           unsent      the SDK threw before sending
import { createInterface } from "node:readline";
import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError } from "openai";
import { Stream } from "openai/streaming";
import { VERSION } from "openai/version";

const calls = new Map(); // id -> AbortController

function send(message) {
  process.stdout.write(JSON.stringify(message) + "\n");
}

function headersObject(headers) {
  const out = {};
  headers.forEach((value, key) => {
    out[key.toLowerCase()] = value;
  });
  return out;
}

function requestBody(body) {
  if (body === undefined || body === null) return null;
  if (typeof body === "string") return body;
  if (body instanceof Uint8Array || body instanceof ArrayBuffer) return Buffer.from(body).toString("utf-8");
  return String(body);
}

// fetch for one call: records what went out and what came back, leaves the SDK's view untouched.
function capturingFetch(id, abort, state) {
  return async (url, init = {}) => {
    const signal = init.signal ? AbortSignal.any([init.signal, abort.signal]) : abort.signal;
    const headers = new Headers(init.headers);
    state.sent = true;
    send({
      id,
      type: "request",
      method: (init.method || "GET").toUpperCase(),
      url: String(url),
      headers: headersObject(headers),
      body: requestBody(init.body),
    });
    const response = await fetch(url, { ...init, signal });
    send({ id, type: "response", status: response.status, headers: headersObject(response.headers) });
    state.status = response.status;
    if (response.body === null) {
      return response;
    }
    const [forSdk, forEvidence] = response.body.tee();
    state.capture = (async () => {
      for await (const chunk of forEvidence) {
        send({ id, type: "body", data: Buffer.from(chunk).toString("base64") });
      }
    })().catch(() => {}); // aborted or cut off: what arrived was sent
    return new Response(forSdk, { status: response.status, statusText: response.statusText, headers: response.headers });
  };
}

function resolve(client, path) {
  let target = client;
  for (const part of path.slice(0, -1)) {
    target = target?.[part];
  }
  const method = target?.[path[path.length - 1]];
  return typeof method === "function" ? method.bind(target) : null;
}

function classify(error, state) {
  const name = error?.constructor?.name || typeof error;
  const message = String(error?.message ?? error);
  if (error instanceof APIConnectionTimeoutError) return { kind: "timeout", name, message };
  if (error instanceof APIConnectionError) {
    const cause = error.cause ? `: ${error.cause.cause?.message || error.cause.message || error.cause}` : "";
    return { kind: "connection", name, message: message + cause };
  }
  if (!state.sent) return { kind: "unsent", name, message };
  if (error instanceof APIError && typeof error.status === "number" && error.status === state.status && error.status >= 400) {
    return { kind: "status", name, message };
  }
  if (error instanceof SyntaxError) return { kind: "decode", name, message };
  return { kind: "sdk", name, message };
}

async function call(request) {
  const { id } = request;
  const abort = new AbortController();
  calls.set(id, abort);
  const state = { sent: false, status: null, capture: null };
  let error = null;
  try {
    const client = new OpenAI({
      apiKey: request.api_key,
      baseURL: request.base_url,
      maxRetries: 0, // a retry would hide the very failure we are measuring
      timeout: request.timeout_ms,
      defaultHeaders: request.default_headers || {},
      fetch: capturingFetch(id, abort, state),
      logLevel: "off",
    });
    const method = resolve(client, request.path);
    if (method === null) {
      error = { kind: "missing", name: "", message: `the openai node SDK has no client.${request.path.join(".")}` };
    } else {
      const result = await method(...request.args);
      if (result instanceof Stream) {
        for await (const _ of result) {
          // consume every event: parsing them is what is being measured
        }
      }
    }
  } catch (exc) {
    error = classify(exc, state);
  }
  if (state.capture !== null) await state.capture;
  if (calls.delete(id) && !abort.signal.aborted) {
    send({ id, type: "done", error });
  }
}

// The SDK reports some stream parse failures with console.error besides throwing: the throw is what counts.
console.error = () => {};

send({ type: "ready", sdk_version: VERSION });
const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
lines.on("line", (line) => {
  if (!line.trim()) return;
  const request = JSON.parse(line);
  if (request.op === "cancel") {
    calls.get(request.id)?.abort();
    calls.delete(request.id);
  } else if (request.op === "call") {
    call(request);
  }
});
lines.on("close", () => {
  for (const abort of calls.values()) abort.abort();
  process.exitCode = 0;
});
