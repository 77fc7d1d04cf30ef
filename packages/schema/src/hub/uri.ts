import { SchemaError } from "../errors.js";

export type HubRepoType = "dataset" | "model";

/** A repo at a revision, with an optional path (a file, a folder or a glob) inside it. */
export interface HubRef {
  type: HubRepoType;
  /** `org/name` */
  repo: string;
  /** Branch, tag or commit; `main` when the URI names none. */
  revision: string;
  /** Repo-relative path; "" for the repo root. */
  path: string;
}

const NAME = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;

function splitRevision(s: string, uri: string = s): { repo: string; revision: string } {
  const at = s.indexOf("@");
  if (at < 0) return { repo: s, revision: "main" };
  let revision: string;
  try {
    revision = decodeURIComponent(s.slice(at + 1));
  } catch {
    throw new SchemaError(`"${uri}": the revision "${s.slice(at + 1)}" is not valid URL encoding (write / as %2F)`, { code: "HUB_URI" });
  }
  // `ORG/NAME@` is a typo, not a request for main.
  if (revision.trim() === "") throw new SchemaError(`"${uri}": empty revision after "@"; write @BRANCH, @TAG or @COMMIT, or leave out the @`, { code: "HUB_URI" });
  return { repo: s.slice(0, at), revision };
}

/** True for `hf://…` */
export const isHfUri = (s: string): boolean => s.startsWith("hf://");

/**
 * Parse `hf://datasets/ORG/NAME[@REV]/PATH-OR-GLOB` (or `hf://ORG/NAME[@REV]/PATH` for a model), the URIs of
 * huggingface_hub's `HfFileSystem`. A revision with `/` is written URL-encoded (`@refs%2Fconvert%2Fparquet`).
 * @throws {SchemaError} code `HUB_URI` on a malformed URI
 */
export function parseHfUri(uri: string): HubRef {
  if (!isHfUri(uri)) throw new SchemaError(`not an hf:// URI: "${uri}"`, { code: "HUB_URI" });
  let rest = uri.slice(5);
  let type: HubRepoType = "model";
  if (rest.startsWith("datasets/")) {
    type = "dataset";
    rest = rest.slice(9);
  } else if (rest.startsWith("models/")) rest = rest.slice(7);
  else if (rest.startsWith("spaces/")) throw new SchemaError(`Spaces are not supported: "${uri}"`, { code: "HUB_URI" });
  const parts = rest.split("/");
  if (parts.length < 2) throw new SchemaError(`"${uri}" names no repo; expected hf://datasets/ORG/NAME[@REV]/PATH`, { code: "HUB_URI" });
  const { repo, revision } = splitRevision(`${parts[0]}/${parts[1]}`, uri);
  if (!NAME.test(repo)) throw new SchemaError(`"${uri}": "${repo}" is not a repo id ORG/NAME`, { code: "HUB_URI" });
  const p = parts.slice(2).join("/");
  if (p.split("/").some((seg) => seg === "..")) throw new SchemaError(`"${uri}": ".." is not allowed in a Hub path`, { code: "HUB_URI" });
  return { type, repo, revision, path: p };
}

/**
 * A model reference as the CLI takes it: `ORG/NAME[@REV]` or `hf://ORG/NAME[@REV]`; undefined when `s` is not one
 * (the caller then treats it as a local path).
 */
export function parseRepoId(s: string, type: HubRepoType = "model"): HubRef | undefined {
  if (isHfUri(s)) {
    const r = parseHfUri(s);
    return { ...r, type: s.startsWith("hf://datasets/") ? "dataset" : type };
  }
  const { repo, revision } = splitRevision(s);
  return NAME.test(repo) ? { type, repo, revision, path: "" } : undefined;
}

/** Whether a path has glob characters (`*`, `?`, `[`). */
export const hasGlob = (p: string): boolean => /[*?[]/.test(p);

/**
 * A glob as a RegExp over repo paths, fsspec style: `*` and `?` stay within a segment, `**` crosses `/`,
 * `[abc]` is a class.
 */
export function globToRegExp(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*") {
      if (glob[i + 1] === "*") {
        i++;
        if (glob[i + 1] === "/") {
          i++;
          re += "(?:.*/)?";
        } else re += ".*";
      } else re += "[^/]*";
    } else if (c === "?") re += "[^/]";
    else if (c === "[") {
      const end = glob.indexOf("]", i + 1);
      if (end < 0) re += "\\[";
      else {
        re += "[" + glob.slice(i + 1, end).replace(/^!/, "^").replace(/\\/g, "\\\\") + "]";
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

/** The longest leading folder of a glob without glob characters (what to list). */
export function globBase(glob: string): string {
  const segs = glob.split("/");
  const out: string[] = [];
  for (const s of segs.slice(0, -1)) {
    if (hasGlob(s)) break;
    out.push(s);
  }
  return out.join("/");
}
