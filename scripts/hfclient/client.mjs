#!/usr/bin/env node
// Downloads a model from a weightgate gateway with the official Hugging Face
// Hub JavaScript library (@huggingface/hub, pinned in package.json), so that
// gateway/hfclient_test.go checks the gateway against a real third-party
// client rather than against our own idea of the protocol. Every protocol
// request below is made by the library; this file only drives it.
//
//   node client.mjs --endpoint URL --repo ORG/NAME [--token T] [--revision main]
//                   --out DIR [--files a,b] [--snapshot]
//
// With --snapshot the library's snapshotDownload fills a Hub cache in --out
// (modelInfo, the tree listing, paths-info, then downloadFile per file) and
// the files of the resulting snapshot folder are reported.
//
// Output, on stdout, one JSON line per downloaded file:
//   {"path": "...", "size": N, "sha256": "..."}            exit 0
// and on a library (or HTTP) error, one last line:
//   {"error": "...", "status": 403, "name": "HubApiError", ...}  exit 3
// Usage errors exit 2.

import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import { dirname, resolve, sep } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { parseArgs } from "node:util";
import { HubApiError, downloadFile, listFiles, modelInfo, snapshotDownload } from "@huggingface/hub";
import { createReadStream } from "node:fs";
import { readdir } from "node:fs/promises";
import { relative } from "node:path";

const usage =
	"usage: node client.mjs --endpoint URL --repo ORG/NAME [--token T] [--revision main] --out DIR [--files a,b]";

let args;
try {
	({ values: args } = parseArgs({
		options: {
			endpoint: { type: "string" },
			repo: { type: "string" },
			token: { type: "string" },
			revision: { type: "string", default: "main" },
			out: { type: "string" },
			files: { type: "string" },
			snapshot: { type: "boolean", default: false },
		},
		strict: true,
	}));
} catch (err) {
	console.error(`${err.message}\n${usage}`);
	process.exit(2);
}
if (!args.endpoint || !args.repo || !args.out) {
	console.error(usage);
	process.exit(2);
}
const hubUrl = args.endpoint.replace(/\/+$/, "");

// Credentials. The library only accepts Hub-style tokens: checkCredentials()
// throws TypeError("Your access token must start with 'hf_'") for anything
// else (src/utils/checkCredentials.ts, checkAccessToken). weightgate tokens
// are JWTs, so an hf_ token goes through the library's accessToken parameter
// and any other token through its documented `fetch` hook ("to use a proxy or
// edit headers"), which adds the same "Authorization: Bearer" header the
// library would, and only for requests to the gateway itself.
const auth = {};
if (args.token?.startsWith("hf_")) {
	auth.accessToken = args.token;
} else if (args.token) {
	const origin = new URL(hubUrl).origin;
	auth.fetch = (input, init = {}) => {
		const url = new URL(input instanceof Request ? input.url : String(input));
		const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
		if (url.origin === origin && !headers.has("Authorization")) {
			headers.set("Authorization", `Bearer ${args.token}`);
		}
		return fetch(input, { ...init, headers });
	};
}
const common = { hubUrl, ...auth };
const repo = { type: "model", name: args.repo };

// prints the library's error as one JSON line and exits 3.
function fail(err) {
	const out = { error: err instanceof Error ? err.message : String(err) };
	if (err instanceof HubApiError) {
		out.name = "HubApiError";
		out.status = err.statusCode;
		out.request_id = err.requestId;
		out.url = err.url;
		out.data = err.data; // the gateway's JSON error body: {error, code, request_id}
	} else {
		out.name = err?.constructor?.name ?? typeof err;
	}
	console.log(JSON.stringify(out));
	process.exit(3);
}

// hashes a file (following the cache's symlinks) and prints its line.
async function report(path, file) {
	const hash = createHash("sha256");
	let size = 0;
	for await (const chunk of createReadStream(file)) {
		hash.update(chunk);
		size += chunk.length;
	}
	console.log(JSON.stringify({ path, size, sha256: hash.digest("hex") }));
}

if (args.snapshot) {
	try {
		// Silence the library's per-file console.debug progress lines: stdout
		// is this program's JSON output.
		console.debug = () => {};
		const dir = await snapshotDownload({ ...common, repo, revision: args.revision, cacheDir: resolve(args.out) });
		for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
			if (entry.isDirectory()) continue;
			const file = resolve(entry.parentPath, entry.name);
			await report(relative(dir, file).split(sep).join("/"), file);
		}
	} catch (err) {
		fail(err);
	}
	process.exit(0);
}

try {
	// The model's commit, as snapshotDownload does it: modelInfo asks
	// /api/models/{repo}/revision/{rev}. Files are then fetched at that commit.
	const info = await modelInfo({ ...common, name: args.repo, revision: args.revision, additionalFields: ["sha"] });
	const revision = info.sha ?? args.revision;

	// Which files: --files, or every file of the tree listing.
	let paths;
	if (args.files) {
		paths = args.files.split(",").filter(Boolean);
	} else {
		paths = [];
		for await (const entry of listFiles({ ...common, repo, revision, recursive: true })) {
			if (entry.type === "file") paths.push(entry.path);
		}
	}

	const outDir = resolve(args.out);
	for (const path of paths) {
		const dest = resolve(outDir, path);
		if (!dest.startsWith(outDir + sep)) throw new Error(`refusing to write ${path} outside --out`);
		// downloadFile: a "Range: bytes=0-0" probe (fileDownloadInfo) for the
		// size and ETag, then a Blob whose stream() GETs the whole file.
		const blob = await downloadFile({ ...common, repo, path, revision });
		if (!blob) throw new Error(`${path}: not found (the library returned null: 404 EntryNotFound)`);
		await mkdir(dirname(dest), { recursive: true });
		const hash = createHash("sha256");
		let size = 0;
		const tee = new Transform({
			transform(chunk, _enc, done) {
				hash.update(chunk);
				size += chunk.length;
				done(null, chunk);
			},
		});
		await pipeline(Readable.fromWeb(blob.stream()), tee, createWriteStream(dest));
		console.log(JSON.stringify({ path, size, sha256: hash.digest("hex") }));
	}
} catch (err) {
	fail(err);
}
