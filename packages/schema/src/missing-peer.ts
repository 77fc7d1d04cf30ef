import { SchemaError } from "./errors.js";

/**
 * An optional peer dependency (a heavy or native package only some features use) is not installed.
 * `peer` is the npm package to add; `feature` names what needed it.
 */
export class MissingPeerError extends SchemaError {
  override readonly name = "MissingPeerError";
  constructor(
    readonly peer: string,
    readonly feature: string,
    cause?: unknown,
  ) {
    super(`${feature} needs the optional peer dependency "${peer}": run \`npm install ${peer}\``, { code: "ERR_SFMED_MISSING_PEER", cause });
  }
}

/** True when `err` says that `peer` itself (not one of its own imports) could not be resolved. */
function isMissing(err: unknown, peer: string): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (code !== "ERR_MODULE_NOT_FOUND" && code !== "MODULE_NOT_FOUND") return false;
  const message = String((err as Error).message);
  return message.includes(`'${peer}'`) || message.includes(`"${peer}"`) || message.includes(`'${peer}/`) || message.includes(`${peer}/package.json`);
}

/**
 * Load an optional peer with `load` (a dynamic `import()` written at the call site, so bundlers and the package's
 * own resolution see it); a missing package becomes {@link MissingPeerError}, any other failure is rethrown.
 */
export async function loadPeer<T>(peer: string, feature: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (err) {
    if (isMissing(err, peer)) throw new MissingPeerError(peer, feature, err);
    throw err;
  }
}

/** {@link loadPeer} for synchronous call sites (`load` calls a `require` made with `createRequire`). */
export function loadPeerSync<T>(peer: string, feature: string, load: () => T): T {
  try {
    return load();
  } catch (err) {
    if (isMissing(err, peer)) throw new MissingPeerError(peer, feature, err);
    throw err;
  }
}
