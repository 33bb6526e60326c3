//! Real `.deb`s and a trusted `file:` repository written by a test, for the pipeline end to
//! end without a network.

use std::path::Path;

use sha2::{Digest, Sha256};

/// A `.deb` of `name` holding `file`, with `depends`.
pub fn deb(dir: &Path, name: &str, file: &str, depends: &str) -> (String, Vec<u8>) {
    let arch = staves_deb::arch::host();
    let content = dir.join(format!("{name}.content"));
    std::fs::write(&content, format!("{name}\n")).expect("content");
    let mut entries = vec![staves_deb::write::Entry {
        path: file.to_owned(),
        kind: staves_deb::write::EntryKind::File {
            source: content,
            size: name.len() as u64 + 1,
            executable: false,
        },
    }];
    let mut parent = Path::new(file).parent();
    while let Some(dir) = parent.filter(|p| !p.as_os_str().is_empty()) {
        entries.push(staves_deb::write::Entry {
            path: dir.display().to_string(),
            kind: staves_deb::write::EntryKind::Dir,
        });
        parent = dir.parent();
    }
    let depends = if depends.is_empty() {
        String::new()
    } else {
        format!("Depends: {depends}\n")
    };
    let control = format!(
        "Package: {name}\nVersion: 1\nArchitecture: {arch}\nMaintainer: T <t@localhost>\n{depends}Description: {name}\n"
    );
    let mut out = std::io::Cursor::new(Vec::new());
    staves_deb::write::write_deb(
        &mut out,
        &staves_deb::write::NewDeb {
            control: &control,
            entries: &entries,
            mtime: 0,
            scripts: &[],
        },
    )
    .expect("deb");
    (control, out.into_inner())
}

/// A trusted `file:` repository at `root` holding `debs`.
pub fn repository(root: &Path, debs: &[(String, Vec<u8>)]) {
    let arch = staves_deb::arch::host();
    let index = root.join(format!("dists/s/main/binary-{arch}"));
    std::fs::create_dir_all(&index).expect("dirs");
    std::fs::create_dir_all(root.join("pool")).expect("pool");
    let mut packages = String::new();
    for (n, (control, bytes)) in debs.iter().enumerate() {
        let file = format!("pool/{n}.deb");
        std::fs::write(root.join(&file), bytes).expect("deb");
        let digest = hex::encode(Sha256::digest(bytes));
        packages.push_str(&format!(
            "{control}Filename: {file}\nSize: {}\nSHA256: {digest}\n\n",
            bytes.len()
        ));
    }
    std::fs::write(index.join("Packages"), &packages).expect("Packages");
    let release = format!(
        "Suite: s\nCodename: s\nArchitectures: {arch}\nComponents: main\nSHA256:\n {} {} main/binary-{arch}/Packages\n",
        hex::encode(Sha256::digest(packages.as_bytes())),
        packages.len()
    );
    std::fs::write(root.join("dists/s/Release"), release).expect("Release");
}
