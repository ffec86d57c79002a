import type { Task } from "../client/types.js";

const BAR_WIDTH = 24;

/** "37.5%  3/8  Chapter 3  running", leaving out what the task has not reported. */
export function describeProgress(task: Task): string {
  const { percent, current, total, message } = task.progress;
  const parts: string[] = [];
  if (percent !== undefined) parts.push(`${formatPercent(percent)}%`);
  if (current !== undefined) parts.push(total !== undefined ? `${current}/${total}` : String(current));
  if (message !== undefined && message.length > 0) parts.push(oneLine(message));
  parts.push(task.attempt > 1 ? `${task.state} (attempt ${task.attempt})` : task.state);
  if (task.state === "queued" && task.position !== null) parts.push(`#${task.position} in queue ${task.queue}`);
  return parts.join("  ");
}

/** The line redrawn on a terminal: a bar, then {@link describeProgress}, cut to `columns`. */
export function progressBar(task: Task, columns: number): string {
  const percent = task.progress.percent ?? (task.state === "succeeded" ? 100 : 0);
  const filled = Math.round((Math.min(100, Math.max(0, percent)) / 100) * BAR_WIDTH);
  const line = `[${"#".repeat(filled)}${"-".repeat(BAR_WIDTH - filled)}] ${describeProgress(task)}`;
  return line.length > columns - 1 ? `${line.slice(0, Math.max(0, columns - 2))}…` : line;
}

/** The plain line written when stdout is not a terminal. */
export function progressLine(task: Task): string {
  return `progress ${describeProgress(task)}`;
}

export function formatPercent(percent: number): string {
  return String(Math.round(percent * 10) / 10);
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}
