// Submits a book to "chapters.convert" through the TypeScript client, prints where to watch
// it in the browser, and follows it here until it ends.
//   OUTLAST_URL=http://127.0.0.1:7391 OUTLAST_TOKEN=<admin key or owner token> node --import tsx examples/python/submit.ts
import { OutlastClient } from "outlast/client";

const baseUrl = process.env.OUTLAST_URL ?? "http://127.0.0.1:7391";
const token = process.env.OUTLAST_TOKEN;
if (!token) {
  console.error("Set OUTLAST_TOKEN to the admin key `outlast serve` printed (or an owner token)");
  process.exit(2);
}
const client = new OutlastClient({ baseUrl, token, storage: null });
const chapters = ["It was a dark and stormy night.", "The rain fell in torrents, except at occasional intervals.", "The end."];
const { task } = await client.submit("chapters.convert", { title: "A Stormy Night", chapters });
console.log(`submitted ${task.id}; watch it live at ${baseUrl}/dashboard#/task/${task.id}`);

const ended = await new Promise<{ state: string; result: unknown }>((resolve, reject) => {
  const stop = client.watch(task.id, {
    onProgress: (progress) => console.log(`${progress.percent ?? 0}% ${progress.message ?? ""}`),
    onLog: (message) => console.log(`log: ${message}`),
    onFinish: (finished) => {
      stop();
      resolve(finished);
    },
    onError: (error) => {
      stop();
      reject(error);
    },
  });
});
console.log(`${ended.state}: ${JSON.stringify(ended.result)}`);
client.close();
process.exit(ended.state === "succeeded" ? 0 : 1);
