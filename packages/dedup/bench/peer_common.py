"""What every Python peer bench shares with sfmed's defaults: threshold, shingle size, permutations, and the
same normalisation (NFKC, lower case, letters and digits) and character 5-gram shingles."""
import resource
import unicodedata

T, N, NUM_PERM = 0.8, 5, 128


def normalize(s):
    s = unicodedata.normalize("NFKC", s).lower()
    return "".join(ch for ch in s if ch.isalnum())


def shingles(s):
    if not s:
        return []
    if len(s) < N:
        return [s]
    return list({s[i : i + N] for i in range(len(s) - N + 1)})


def cpu_seconds():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime
