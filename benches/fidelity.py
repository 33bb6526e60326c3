#!/usr/bin/env python3
"""Compares a Staves image with a real Debian install of the same packages, path by path.

    fidelity.py DEBIAN.tar STAVES.tar ALLOW [--name NAME] [--all]

DEBIAN.tar is a root file system as a tar (what mmdebstrap writes); STAVES.tar is a
docker-archive (what `staves build -o image.tar` writes), its layers applied in order.
Each path is compared by kind, mode, owner and group (by name, through each image's own
/etc/passwd and /etc/group), link target, and for /etc the file's bytes. dpkg and apt
state, logs, caches and /dev are not compared. Differences that match the allow-list
(ALLOW: `WHERE PATTERN [@PACKAGE]  # reason`, WHERE one of debian, staves, differs, any;
@PACKAGE limits an entry to that package's comparison) are counted
apart; the others are listed. Exit status 1 when any difference is outside the list.
"""

import fnmatch
import hashlib
import json
import sys
import tarfile

# State of the installer, not of the image's software.
IGNORED = (
    "dev/*",
    "var/lib/dpkg/*",
    "var/lib/apt/*",
    "var/cache/*",
    "var/log/*",
    "etc/apt/sources.list",
    "etc/apt/apt.conf.d/99mmdebstrap",
    "var/lib/staves/*",
)


def norm(name):
    if name in (".", "./"):
        return ""
    name = name[2:] if name.startswith("./") else name.lstrip("/")
    return name.rstrip("/")


def normalize(path, content):
    """What is compared of a file. /etc/shadow's third field is the day of the install
    (Staves writes none, so the image does not depend on the build date); `_apt` is the
    account mmdebstrap makes for its own apt run (apt is not in the compared set). In
    passwd and group, `x` ("see the shadow file", where systemd-sysusers puts a locked
    `!*`) reads as `*` (locked in place): no account an install makes has a password."""
    if path in ("etc/shadow", "etc/passwd", "etc/shadow-", "etc/passwd-", "etc/group"):
        lines = []
        for line in content.decode("utf-8", "replace").splitlines():
            fields = line.split(":")
            if fields[0] == "_apt":
                continue
            if path.startswith("etc/shadow") and len(fields) > 2:
                fields[2] = ""
            if path in ("etc/passwd", "etc/group") and len(fields) > 1 and fields[1] == "x":
                fields[1] = "*"
            lines.append(":".join(fields))
        return ("\n".join(lines) + "\n").encode()
    if path == "etc/shells":
        # Which shells, not their order: the order follows the order packages were
        # configured in, and nothing reads /etc/shells in order.
        lines = content.decode("utf-8", "replace").splitlines()
        return ("\n".join(sorted(lines)) + "\n").encode()
    if path == "etc/ssl/certs/java/cacerts" and content[:4] == b"\xfe\xed\xfe\xed":
        return jks_entries(content)
    return content


def jks_entries(store):
    """A JKS keystore's trusted certificates (alias and certificate bytes) in alias order:
    what Java trusts, without the entries' dates (the install's clock) or their order (a
    hash table's in Java's writer)."""
    import struct

    def utf(at):
        (n,) = struct.unpack_from(">H", store, at)
        return store[at + 2 : at + 2 + n], at + 2 + n

    (count,) = struct.unpack_from(">I", store, 8)
    at, entries = 12, []
    for _ in range(count):
        (tag,) = struct.unpack_from(">I", store, at)
        if tag != 2:  # not a trusted certificate: compare the bytes as they are
            return store
        alias, at = utf(at + 4)
        _, at = utf(at + 8)  # the date, then the certificate type
        (n,) = struct.unpack_from(">I", store, at)
        entries.append(alias + b" " + hashlib.sha256(store[at + 4 : at + 4 + n]).hexdigest().encode())
        at += 4 + n
    return b"\n".join(sorted(entries)) + b"\n"


def kind_of(member):
    if member.isdir():
        return "dir"
    if member.issym():
        return "symlink"
    if member.isreg() or member.islnk():
        return "file"
    return "other"


def read_layer(tar, tree, data):
    for m in tar:
        path = norm(m.name)
        if not path:
            continue
        base = path.rsplit("/", 1)[-1]
        parent = path.rsplit("/", 1)[0] if "/" in path else ""
        if base == ".wh..wh..opq":
            for p in [p for p in tree if p.startswith(parent + "/")]:
                del tree[p]
            continue
        if base.startswith(".wh."):
            gone = (parent + "/" if parent else "") + base[4:]
            for p in [p for p in tree if p == gone or p.startswith(gone + "/")]:
                del tree[p]
            continue
        entry = {
            "kind": kind_of(m),
            "mode": m.mode & 0o7777,
            "uid": m.uid,
            "gid": m.gid,
            "target": m.linkname if m.issym() else None,
        }
        if m.islnk():
            first = tree.get(norm(m.linkname))
            if first:
                entry["mode"], entry["uid"], entry["gid"] = first["mode"], first["uid"], first["gid"]
                entry["sha"] = first.get("sha")
            tree[path] = entry
            continue
        if m.isreg():
            f = tar.extractfile(m)
            content = normalize(path, f.read() if f else b"")
            entry["sha"] = hashlib.sha256(content).hexdigest()
            if path in ("etc/passwd", "etc/group", "var/lib/dpkg/status"):
                data[path] = content.decode("utf-8", "replace")
        elif m.isreg() and path == "var/lib/dpkg/status":
            f = tar.extractfile(m)
            data[path] = f.read().decode("utf-8", "replace") if f else ""
        tree[path] = entry


def read_debian(path):
    tree, data = {}, {}
    with tarfile.open(path) as tar:
        read_layer(tar, tree, data)
    return tree, data


def read_docker_archive(path):
    tree, data = {}, {}
    with tarfile.open(path) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))
        for layer in manifest[0]["Layers"]:
            with tarfile.open(fileobj=outer.extractfile(layer)) as tar:
                read_layer(tar, tree, data)
    return tree, data


def names(text):
    out = {}
    for line in (text or "").splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[2].isdigit():
            out.setdefault(int(fields[2]), fields[0])
    return out


def installed(status):
    out, name, version, ok = {}, None, None, False
    for line in (status or "").splitlines() + [""]:
        if line.startswith("Package: "):
            name = line[9:].strip()
        elif line.startswith("Version: "):
            version = line[9:].strip()
        elif line.startswith("Status: "):
            ok = line.endswith(" installed")
        elif not line.strip():
            if name and ok:
                out[name] = version
            name, version, ok = None, None, False
    return out


def load_allow(path):
    rules = []
    for raw in open(path, encoding="utf-8"):
        line = raw.split("#", 1)[0].strip()
        reason = raw.split("#", 1)[1].strip() if "#" in raw else ""
        if not line:
            continue
        words = line.split()
        where, pattern = words[0], words[1]
        # `@PACKAGE`: the entry holds for that package's comparison only.
        only = words[2][1:] if len(words) > 2 and words[2].startswith("@") else None
        rules.append((where, pattern, reason, only))
    return rules


def allowed(rules, where, path, name):
    for w, pattern, reason, only in rules:
        if only and only != name:
            continue
        if w in (where, "any") and fnmatch.fnmatchcase(path, pattern):
            return reason or pattern
    return None


def describe(e, users, groups):
    owner = users.get(e["uid"], str(e["uid"]))
    group = groups.get(e["gid"], str(e["gid"]))
    text = f'{e["kind"]} {e["mode"]:04o} {owner}:{group}'
    if e["target"] is not None:
        text += f' -> {e["target"]}'
    return text


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    show_all = "--all" in sys.argv
    name = sys.argv[sys.argv.index("--name") + 1] if "--name" in sys.argv else args[0]
    args = [a for a in args if a != name] if "--name" in sys.argv else args
    debian_tar, staves_tar, allow_path = args[:3]
    debian, ddata = read_debian(debian_tar)
    staves, sdata = read_docker_archive(staves_tar)
    rules = load_allow(allow_path)
    d_users, d_groups = names(ddata.get("etc/passwd")), names(ddata.get("etc/group"))
    s_users, s_groups = names(sdata.get("etc/passwd")), names(sdata.get("etc/group"))

    def ignored(p):
        return any(fnmatch.fnmatchcase(p, g) or p == g.rstrip("/*") for g in IGNORED)

    found = {"debian": [], "staves": [], "differs": []}
    same, allowed_count, reasons = 0, 0, {}
    for path in sorted(set(debian) | set(staves)):
        if ignored(path):
            continue
        d, s = debian.get(path), staves.get(path)
        if d and s:
            dd = describe(d, d_users, d_groups)
            sd = describe(s, s_users, s_groups)
            fields = []
            if dd != sd:
                fields.append(f"{dd} | {sd}")
            if d.get("sha") != s.get("sha") and d["kind"] == s["kind"] == "file":
                fields.append("content")
            if not fields:
                same += 1
                continue
            where, text = "differs", f"{path}: " + "; ".join(fields)
        elif d:
            where, text = "debian", f"{path} ({describe(d, d_users, d_groups)})"
        else:
            where, text = "staves", f"{path} ({describe(s, s_users, s_groups)})"
        reason = allowed(rules, where, path, name)
        if reason:
            allowed_count += 1
            reasons[reason] = reasons.get(reason, 0) + 1
        else:
            found[where].append(text)

    d_pkgs, s_pkgs = installed(ddata.get("var/lib/dpkg/status")), installed(sdata.get("var/lib/dpkg/status"))
    pkg_diff = sorted(
        f"{p}: debian {d_pkgs.get(p, '-')}, staves {s_pkgs.get(p, '-')}"
        for p in set(d_pkgs) | set(s_pkgs)
        if d_pkgs.get(p) != s_pkgs.get(p)
    )
    outside = sum(len(v) for v in found.values())
    print(
        f"{name}: {len(debian)} paths in Debian's install, {same} identical; "
        f"only in Debian {len(found['debian'])}, only in Staves {len(found['staves'])}, "
        f"differing {len(found['differs'])}; allowed {allowed_count}; "
        f"package set {'equal' if not pkg_diff else 'DIFFERENT'} ({len(d_pkgs)} packages)"
    )
    for line in pkg_diff:
        print(f"  package {line}")
    labels = {"debian": "only in Debian", "staves": "only in Staves", "differs": "differs"}
    for where, lines in found.items():
        for line in lines if show_all else lines[:40]:
            print(f"  {labels[where]}: {line}")
        if not show_all and len(lines) > 40:
            print(f"  … {len(lines) - 40} more {labels[where]} (--all)")
    if "--reasons" in sys.argv:
        for reason, n in sorted(reasons.items()):
            print(f"  allowed {n}: {reason}")
    sys.exit(1 if outside or pkg_diff else 0)


if __name__ == "__main__":
    main()
