// Where notifications leave for the upstream (SPEC §4): the sync capability implements this
// with its durable outbox; until it is wired, nothing is sent.
export interface OutboxSink {
  append(kind: string, payload: unknown): Promise<void>;
}

export const noOutbox: OutboxSink = {
  async append() {},
};
