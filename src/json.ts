// JSON values: what configs, checkpoint headers, model constructor arguments and optimizer
// options hold. Every layer speaks it, so it lives here, below all of them.

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
