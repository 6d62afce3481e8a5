// Run by tests/jobs/jobs_serve_test.cpp: the official `openai` npm client against `kuai serve`.
// Usage: node openai_batch.mjs BASE_URL API_KEY. Prints one JSON line with what it saw.
import OpenAI, { toFile } from 'openai';

const [base, key] = process.argv.slice(2);
const client = new OpenAI({ baseURL: base + '/v1', apiKey: key, maxRetries: 0 });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const lines = [];
for (let i = 0; i < 6; i++) {
  lines.push(JSON.stringify({ custom_id: `req-${i}`, method: 'POST', url: '/v1/chat/completions',
    body: { model: 'default', messages: [{ role: 'user', content: `hello number ${i}` }] } }));
}
// A body the endpoint rejects (no messages): one error line, not a dead batch.
lines.push(JSON.stringify({ custom_id: 'bad-body', method: 'POST', url: '/v1/chat/completions', body: { model: 'default' } }));

const file = await client.files.create({ file: await toFile(Buffer.from(lines.join('\n') + '\n'), 'input.jsonl'), purpose: 'batch' });
const fetched = await client.files.retrieve(file.id);
let batch = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions',
  completion_window: '24h', metadata: { run: 'npm' } });
const created_status = batch.status;
const deadline = Date.now() + 30000;
while (!['completed', 'failed', 'expired', 'cancelled'].includes(batch.status) && Date.now() < deadline) {
  await sleep(100);
  batch = await client.batches.retrieve(batch.id);
}
const ids = (text) => text.split('\n').filter((l) => l).map((l) => JSON.parse(l));
const out = batch.output_file_id ? ids(await (await client.files.content(batch.output_file_id)).text()) : [];
const err = batch.error_file_id ? ids(await (await client.files.content(batch.error_file_id)).text()) : [];
const page = await client.batches.list({ limit: 10 });
let cancel_status = 0;
try { await client.batches.cancel(batch.id); } catch (e) { cancel_status = e.status; }
const files = await client.files.list();
const deleted = await client.files.del(file.id);

console.log(JSON.stringify({
  file_bytes: fetched.bytes, created_status, status: batch.status, counts: batch.request_counts,
  metadata: batch.metadata, output: out.map((l) => [l.custom_id, l.response.status_code, l.response.body.object]),
  errors: err.map((l) => [l.custom_id, l.response.status_code, l.error && l.error.message ? 'message' : '']),
  listed: page.data.map((b) => b.id).includes(batch.id), cancel_status,
  files: files.data.length, deleted: deleted.deleted,
}));
