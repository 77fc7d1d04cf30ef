/** Everything that is not a letter (L*) or a number (N*): whitespace, punctuation, symbols, marks, controls. */
const NOT_LETTER_OR_NUMBER = /[^\p{L}\p{N}]+/gu;

/** Name and version of the default normalisation, recorded in reports and saved indexes. */
export const NORMALIZATION = "nfkc-lower-LN-v1";

/**
 * The default text normalisation before shingling: Unicode NFKC (full-width letters and digits become
 * half-width), lower case, then keep only code points in Unicode categories L* and N*. Numbers stay verbatim
 * ("5mg" and "50mg" remain different), unlike tools that map every digit to 0.
 *
 * @example normalizeText("高血压，5 MG！") === "高血压5mg"
 */
export function normalizeText(text: string): string {
  return text.normalize("NFKC").toLowerCase().replace(NOT_LETTER_OR_NUMBER, "");
}
