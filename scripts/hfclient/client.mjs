#!/usr/bin/env node
// Drives the official Hugging Face Hub JavaScript library (@huggingface/hub,
// pinned in package.json) against a weightgate gateway, so that
// gateway/hfclient_test.go checks the gateway against a real third-party
// client rather than against our own idea of the protocol. Every protocol
// request is made by the library, configured as any user would: hubUrl and
// accessToken, nothing else (no fetch hook, no extra headers).
//
//   node client.mjs --endpoint URL --repo ORG/NAME [--token hf_...] [--revision main]
//                   --out DIR [--files a,b]     downloadFile per file (default: every file of listFiles)
//   node client.mjs ... --snapshot              snapshotDownload into the Hub cache layout in --out
//   node client.mjs ... --list [--path DIR]     listFiles (recursive) only
//   node client.mjs --endpoint URL --token hf_... --whoami
//   node client.mjs --endpoint URL [--token hf_...] --models [--author ORG]   listModels, every page
//   node client.mjs ... --exists --files a      fileExists (a HEAD) of one file
//   node client.mjs ... --safetensors --files a parseSafetensorsMetadata of one .safetensors file
//
// The token goes to the library's accessToken option as given: the library
// itself refuses one that does not start with hf_ (a TypeError, exit 3).
//
// Output, on stdout, one JSON line per result:
//   {"path": "...", "size": N, "sha256": "...", "etag": "..."}   a downloaded file (etag: what fileDownloadInfo read)
//   {"entry": {...}}                                             a listFiles entry, as the library returns it
//   {"whoami": {...}}                                            whoAmI's answer
//   {"model": "ORG/NAME"}                                        a listModels entry's name
//   {"exists": true}                                             fileExists' answer
//   {"safetensors": {"tensors": N}}                              the header parseSafetensorsMetadata read
// exit 0; on a library (or HTTP) error, one last line
//   {"error": "...", "status": 403, "name": "HubApiError", ...}  exit 3
// Usage errors exit 2.

import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, readdir } from "node:fs/promises";
import { dirname, relative, resolve, sep } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { parseArgs } from "node:util";
import {
	HubApiError,
	downloadFile,
	fileDownloadInfo,
	fileExists,
	listFiles,
	listModels,
	modelInfo,
	parseSafetensorsMetadata,
	snapshotDownload,
	whoAmI,
} from "@huggingface/hub";

const usage =
	"usage: node client.mjs --endpoint URL --repo ORG/NAME [--token hf_...] [--revision main] --out DIR [--files a,b | --snapshot | --list [--path DIR]]\n" +
	"       node client.mjs --endpoint URL --token hf_... --whoami\n" +
	"       node client.mjs --endpoint URL --repo ORG/NAME [--token hf_...] (--exists | --safetensors) --files FILE";

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
			list: { type: "boolean", default: false },
			path: { type: "string" },
			whoami: { type: "boolean", default: false },
			models: { type: "boolean", default: false },
			author: { type: "string" },
			exists: { type: "boolean", default: false },
			safetensors: { type: "boolean", default: false },
		},
		strict: true,
	}));
} catch (err) {
	console.error(`${err.message}\n${usage}`);
	process.exit(2);
}
const probe = args.exists || args.safetensors;
if (probe && !args.files) {
	console.error(`--exists and --safetensors need --files\n${usage}`);
	process.exit(2);
}
const needsOut = !args.whoami && !args.list && !probe && !args.models;
if (!args.endpoint || (!args.whoami && !args.models && !args.repo) || (needsOut && !args.out)) {
	console.error(usage);
	process.exit(2);
}

// What a user writes: the gateway's URL, and the token as the library takes it.
const common = { hubUrl: args.endpoint.replace(/\/+$/, "") };
if (args.token !== undefined) common.accessToken = args.token;
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

try {
	if (args.whoami) {
		console.log(JSON.stringify({ whoami: await whoAmI({ ...common }) }));
		process.exit(0);
	}

	if (args.models) {
		// listModels follows the gateway's Link header from page to page.
		const search = args.author ? { owner: args.author } : undefined;
		for await (const m of listModels({ ...common, search })) {
			console.log(JSON.stringify({ model: m.name }));
		}
		process.exit(0);
	}

	if (args.exists) {
		console.log(JSON.stringify({ exists: await fileExists({ ...common, repo, revision: args.revision, path: args.files }) }));
		process.exit(0);
	}

	if (args.safetensors) {
		const meta = await parseSafetensorsMetadata({ ...common, repo, revision: args.revision, path: args.files });
		const header = meta.header ?? {};
		console.log(JSON.stringify({ safetensors: { tensors: Object.keys(header).filter((k) => k !== "__metadata__").length } }));
		process.exit(0);
	}

	if (args.list) {
		for await (const entry of listFiles({ ...common, repo, revision: args.revision, path: args.path, recursive: true })) {
			console.log(JSON.stringify({ entry }));
		}
		process.exit(0);
	}

	if (args.snapshot) {
		// Silence the library's per-file console.debug progress lines:
		// stdout is this program's JSON output.
		console.debug = () => {};
		const dir = await snapshotDownload({ ...common, repo, revision: args.revision, cacheDir: resolve(args.out) });
		for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
			if (entry.isDirectory()) continue;
			const file = resolve(entry.parentPath, entry.name);
			await report(relative(dir, file).split(sep).join("/"), file);
		}
		process.exit(0);
	}

	// The model's commit, as snapshotDownload finds it: modelInfo asks
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
		// What downloadFile does, in two steps so that the ETag it reads can
		// be reported: fileDownloadInfo sends the "Range: bytes=0-0" probe
		// (size from Content-Range, ETag from X-Linked-ETag or ETag), then
		// the Blob's stream() GETs the whole file.
		const probe = await fileDownloadInfo({ ...common, repo, path, revision });
		if (!probe) throw new Error(`${path}: not found (the library returned null: 404 EntryNotFound)`);
		const blob = await downloadFile({ ...common, repo, path, revision, downloadInfo: probe });
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
		console.log(JSON.stringify({ path, size, sha256: hash.digest("hex"), etag: probe.etag, probe_size: probe.size }));
	}
} catch (err) {
	fail(err);
}
