#!/usr/bin/env python3
"""Writes N small .deb files (ar: debian-binary, control.tar.gz, data.tar.gz) into DIR."""
import io, os, sys, tarfile, gzip, time

def tar_gz(members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.GNU_FORMAT) as tar:
        for name, data, mode in members:
            info = tarfile.TarInfo(name)
            info.mode, info.mtime = mode, 0
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()

def ar(members):
    out = [b"!<arch>\n"]
    for name, data in members:
        out.append(b"%-16s%-12d%-6d%-6d%-8s%-10d`\n" % (name.encode(), 0, 0, 0, b"100644", len(data)))
        out.append(data + (b"\n" if len(data) % 2 else b""))
    return b"".join(out)

def deb(name, version, arch):
    control = (f"Package: {name}\nVersion: {version}\nArchitecture: {arch}\n"
               f"Maintainer: Bench <bench@localhost>\nInstalled-Size: 1\nSection: misc\nPriority: optional\n"
               f"Description: benchmark package {name}\n a package of the archive benchmark\n").encode()
    data = f"#!/bin/sh\necho {name}\n".encode()
    return ar([("debian-binary", b"2.0\n"),
               ("control.tar.gz", tar_gz([("./control", control, 0o644)])),
               ("data.tar.gz", tar_gz([("./", None, 0o755), ("./usr/", None, 0o755), ("./usr/bin/", None, 0o755),
                                      (f"./usr/bin/{name}", data, 0o755)]))])

out, count, prefix, arch = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
os.makedirs(out, exist_ok=True)
for i in range(count):
    name = f"{prefix}{i:05d}"
    with open(os.path.join(out, f"{name}_1.0_{arch}.deb"), "wb") as f:
        f.write(deb(name, "1.0", arch))
