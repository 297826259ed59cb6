"""An independent RFC 9162 verifier for HyperMesh's transparency log tests.

Reads JSON from stdin: {"leaves": [leaf hashes], "inclusion": [{index, size, leaf, path, root}], "consistency": [{old, new, old_root, new_root, proof}]}
with hashes in hex, and writes {"inclusion": [bool...], "consistency": [bool...]}.
Follows RFC 9162 sections 2.1.3.2 and 2.1.4.2 literally.
"""
import hashlib
import json
import sys


def node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(index, size, leaf, path, root):
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(old, new, old_root, new_root, proof):
    if old == new:
        return not proof and old_root == new_root
    if old == 0 or old > new:
        return False
    path = list(proof)
    if old & (old - 1) == 0:
        path.insert(0, old_root)
    if not path:
        return False
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node(c, fr)
            sr = node(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0


def mth(leaves):
    """MTH by its RFC 9162 section 2.1.1 definition, from leaf hashes."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = 1
    while k << 1 < n:
        k <<= 1
    return node(mth(leaves[:k]), mth(leaves[k:]))


def main():
    request = json.load(sys.stdin)
    h = bytes.fromhex
    result = {
        "inclusion": [verify_inclusion(c["index"], c["size"], h(c["leaf"]), [h(p) for p in c["path"]], h(c["root"]))
                      for c in request["inclusion"]],
        "roots": [mth([h(x) for x in request["leaves"][:n]]).hex() for n in range(len(request["leaves"]) + 1)],
        "consistency": [verify_consistency(c["old"], c["new"], h(c["old_root"]), h(c["new_root"]), [h(p) for p in c["proof"]])
                        for c in request["consistency"]],
    }
    json.dump(result, sys.stdout)


main()
