// The browser tab's title: the open thread's, and first of all whether the agent waits for you.

/** Any thread of the list waits for an approval: a background tab says so in its title. */
export function pageTitle(threadTitle: string | undefined, waitingForYou: boolean): string {
  const title = threadTitle ? `${threadTitle} · sandchat` : "sandchat";
  return waitingForYou ? `(Waiting for you) ${title}` : title;
}
