//! What maintainer scripts compute, in images built from the real Debian archive (host apt
//! sources): owners and modes set by `chgrp`/`chmod` and `dpkg-statoverride`, files installed
//! through `ucf` and `pam-auth-update`, accounts created under conditions, alternatives
//! registered in loops; and run-time state (host keys, snakeoil keys, clusters) left out.

mod support;

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use support::engine::container;
use support::{shared_cache, stderr};

/// An entry of the image: mode, owner and group ids, link target, and the text of small files.
#[derive(Debug, Clone, Default)]
struct Entry {
    mode: u32,
    uid: u64,
    gid: u64,
    link: Option<String>,
    text: Option<String>,
    /// The first bytes of a regular file (a keystore's magic and count).
    head: Vec<u8>,
}

/// Builds `packages` (with the content classes `flags`) into a docker-archive and reads its
/// layers back, path by path.
fn image_of(packages: &[&str], flags: &[&str]) -> HashMap<String, Entry> {
    image_with(packages, flags, "")
}

/// The same, with more of the spec (`[[repositories]]` tables) after the package list.
fn image_with(packages: &[&str], flags: &[&str], more: &str) -> HashMap<String, Entry> {
    let dir = tempfile::tempdir().expect("tmp");
    let quoted = |items: &[&str]| -> String {
        let list: Vec<String> = items.iter().map(|p| format!("\"{p}\"")).collect();
        list.join(", ")
    };
    let archive = build_archive(
        dir.path(),
        &format!(
            "name = \"fidelity\"\npackages = [{}]\nuse = [{}]\n\n{more}",
            quoted(packages),
            quoted(flags)
        ),
    );
    read_docker_archive(&archive)
}

/// Builds the spec `text` (written into `dir`) into `dir/image.tar`.
fn build_archive(dir: &Path, text: &str) -> std::path::PathBuf {
    let spec = dir.join("staves.toml");
    std::fs::write(&spec, text).expect("spec");
    let archive = dir.join("image.tar");
    let out = support::staves_command(
        &[
            "build",
            "-f",
            spec.to_str().expect("utf8"),
            "-o",
            archive.to_str().expect("utf8"),
        ],
        &shared_cache(),
    )
    .output()
    .expect("run staves");
    assert!(out.status.success(), "build failed: {}", stderr(&out));
    archive
}

/// [`build_archive`], then loaded into the engine.
fn build_and_load(dir: &Path, text: &str) {
    let archive = build_archive(dir, text);
    let loaded = container(&["load", "-i", archive.to_str().expect("utf8")]);
    assert!(loaded.status.success(), "{}", stderr(&loaded));
}

fn read_docker_archive(path: &Path) -> HashMap<String, Entry> {
    let bytes = std::fs::read(path).expect("archive");
    let mut files: HashMap<String, Vec<u8>> = HashMap::new();
    for entry in tar::Archive::new(bytes.as_slice())
        .entries()
        .expect("entries")
    {
        let mut entry = entry.expect("entry");
        let name = entry.path().expect("path").to_string_lossy().into_owned();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).expect("read");
        files.insert(name, data);
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&files["manifest.json"]).expect("manifest");
    let mut tree = HashMap::new();
    for layer in manifest[0]["Layers"].as_array().expect("layers") {
        let raw = &files[layer.as_str().expect("layer name")];
        // Layers are gzip-compressed in a docker-archive Staves writes.
        let mut data = Vec::new();
        if raw.starts_with(&[0x1f, 0x8b]) {
            flate2::read::GzDecoder::new(raw.as_slice())
                .read_to_end(&mut data)
                .expect("gunzip");
        } else {
            data.clone_from(raw);
        }
        for entry in tar::Archive::new(data.as_slice())
            .entries()
            .expect("entries")
        {
            let mut entry = entry.expect("entry");
            let path = entry.path().expect("path").to_string_lossy().into_owned();
            let header = entry.header();
            let mut e = Entry {
                mode: header.mode().expect("mode") & 0o7777,
                uid: header.uid().expect("uid"),
                gid: header.gid().expect("gid"),
                link: entry
                    .link_name()
                    .ok()
                    .flatten()
                    .map(|l| l.to_string_lossy().into_owned()),
                text: None,
                head: Vec::new(),
            };
            if header.entry_type().is_hard_link() {
                // A copy a script made is a hard link to its source: the same bytes.
                let target = e.link.clone().unwrap_or_default();
                e.text = tree
                    .get(target.trim_end_matches('/'))
                    .and_then(|t: &Entry| t.text.clone());
            } else if header.entry_type().is_file() && header.size().expect("size") < 1 << 20 {
                let mut bytes = Vec::new();
                entry.read_to_end(&mut bytes).expect("read");
                e.head = bytes.iter().copied().take(16).collect();
                e.text = String::from_utf8(bytes).ok();
            }
            tree.insert(path.trim_end_matches('/').to_owned(), e);
        }
    }
    tree
}

/// The id of `name` in the image's `/etc/group` (or `/etc/passwd` with `passwd`).
fn id_of(tree: &HashMap<String, Entry>, file: &str, name: &str) -> u64 {
    let text = tree[file].text.clone().expect("text");
    text.lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f[0] == name).then(|| f[2].parse().expect("id"))
        })
        .unwrap_or_else(|| panic!("{name} not in {file}"))
}

#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn openssh_server_gets_what_its_scripts_compute_and_no_host_keys() {
    let tree = image_of(&["openssh-server", "libc-bin"], &[]);
    // openssh-client's postinst: chgrp _ssh and chmod 2755, unless statoverride says otherwise.
    let agent = &tree["usr/bin/ssh-agent"];
    let ssh_group = id_of(&tree, "etc/group", "_ssh");
    assert_eq!((agent.mode, agent.uid, agent.gid), (0o2755, 0, ssh_group));
    // openssh-server's postinst installs sshd_config from its template through ucf.
    let config = tree["etc/ssh/sshd_config"]
        .text
        .clone()
        .expect("sshd_config");
    assert!(
        config.contains("Include /etc/ssh/sshd_config.d/*.conf"),
        "{config}"
    );
    // Host keys are each container's own.
    assert!(
        !tree.keys().any(|p| p.starts_with("etc/ssh/ssh_host_")),
        "host keys baked in"
    );
    // passwd's `shadowconfig on`: the shadow files readable by group shadow only.
    let shadow = id_of(&tree, "etc/group", "shadow");
    for file in ["etc/shadow", "etc/gshadow"] {
        let e = &tree[file];
        assert_eq!((e.mode, e.uid, e.gid), (0o640, 0, shadow), "{file}");
    }
    // libc-bin's postinst: nsswitch.conf, so /etc/hosts is read before DNS.
    let nsswitch = tree["etc/nsswitch.conf"].text.clone().expect("nsswitch");
    assert!(nsswitch.contains("hosts:          files dns"), "{nsswitch}");
    // libpam-runtime's postinst: pam-auth-update writes the common stacks.
    let auth = tree["etc/pam.d/common-auth"]
        .text
        .clone()
        .expect("common-auth");
    assert!(
        auth.contains("auth\t[success=1 default=ignore]\tpam_unix.so nullok\n"),
        "{auth}"
    );
    // libpam-modules' postinst: an empty /etc/environment.
    assert_eq!(tree["etc/environment"].text.as_deref(), Some(""));
    // The privilege separation user and its empty chroot directory.
    assert!(id_of(&tree, "etc/passwd", "sshd") >= 100);
}

#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn postgresql_scripts_give_its_directories_to_postgres_and_register_man_alternatives() {
    let tree = image_of(&["postgresql"], &["man"]);
    let postgres = id_of(&tree, "etc/passwd", "postgres");
    let ssl_cert = id_of(&tree, "etc/group", "ssl-cert");
    for dir in ["var/lib/postgresql", "etc/postgresql"] {
        assert_eq!(tree[dir].uid, postgres, "{dir} owned by postgres");
    }
    // ssl-cert's postinst: dpkg-statoverride --add root ssl-cert 710 /etc/ssl/private.
    let private = &tree["etc/ssl/private"];
    assert_eq!((private.mode, private.gid), (0o710, ssl_cert));
    // postgres joined ssl-cert, which ssl-cert's postinst created first (dependency order).
    let group = tree["etc/group"].text.clone().expect("group");
    assert!(
        group
            .lines()
            .any(|l| l.starts_with("ssl-cert:") && l.ends_with(":postgres")),
        "{group}"
    );
    // postgresql-client's postinst registers its man pages in a loop over `dpkg -L`.
    assert_eq!(
        tree["usr/share/man/man1/psql.1.gz"].link.as_deref(),
        Some("/etc/alternatives/psql.1.gz")
    );
    assert!(tree.contains_key("var/lib/dpkg/alternatives/psql.1.gz"));
    // The cluster and the snakeoil key are made at the first start, not here.
    assert!(!tree.contains_key("var/lib/postgresql/15/main"));
    assert!(!tree.contains_key("etc/ssl/private/ssl-cert-snakeoil.key"));
    // createcluster.conf from its template, with debconf's default (ssl = on).
    let conf = tree["etc/postgresql-common/createcluster.conf"]
        .text
        .clone()
        .expect("createcluster.conf");
    assert!(conf.contains("\nssl = on\n"), "{conf}");
}

/// exim4: its `config` script is walked before `postinst` (what it `db_set`s, `postinst`
/// reads), a `config` with Latin-1 bytes is read, and the account Debian's scripts name
/// `Debian-exim` (with `--force-badname`) is made, owning its spool and `passwd.client`.
#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn exim4_gets_its_account_and_the_owners_its_scripts_give() {
    let tree = image_of(&["exim4-daemon-light"], &[]);
    let exim = id_of(&tree, "etc/passwd", "Debian-exim");
    let exim_group = id_of(&tree, "etc/group", "Debian-exim");
    let spool = &tree["var/spool/exim4"];
    assert_eq!(
        (spool.mode, spool.uid, spool.gid),
        (0o750, exim, exim_group)
    );
    assert_eq!(tree["var/spool/exim4/input"].mode, 0o750);
    assert_eq!(tree["var/log/exim4"].mode, 0o2750);
    let client = &tree["etc/exim4/passwd.client"];
    assert_eq!(
        (client.mode, client.uid, client.gid),
        (0o640, 0, exim_group)
    );
    // What exim4-config's postinst writes from debconf's answers, through its awk and
    // update-exim4defaults, then update-exim4.conf's configuration from the template.
    let text = |path: &str| tree[path].text.clone().unwrap_or_default();
    let answers = text("etc/exim4/update-exim4.conf.conf");
    for line in [
        "dc_eximconfig_configtype='local'",
        "dc_local_interfaces='127.0.0.1 ; ::1'",
        "dc_use_split_config='false'",
        "dc_localdelivery='mail_spool'",
    ] {
        assert!(answers.lines().any(|l| l == line), "{line} in {answers}");
    }
    assert!(text("etc/default/exim4").contains("QUEUERUNNER='combined'"));
    assert!(text("etc/aliases").contains("postmaster: root"));
    let generated = &tree["var/lib/exim4/config.autogenerated"];
    assert_eq!((generated.mode, generated.gid), (0o644, exim_group));
    let config = text("var/lib/exim4/config.autogenerated");
    assert!(
        config.contains("MAIN_LOCAL_INTERFACES=<; 127.0.0.1 ; ::1"),
        "{config}"
    );
    assert!(config.contains("DCconfig_local=1"), "{config}");
    // The template's comments removed, as `removecomments` does: only the header is left.
    let comments = config.lines().filter(|l| l.starts_with('#')).count();
    assert!(comments < 40, "{comments} comment lines");
    assert!(config.contains("acl_check_rcpt:"), "{config}");
}

/// The configuration update-exim4.conf generated at build time is exim's own: `exim -bV`
/// reads and checks it, and `-bt` routes a local address through it.
#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn exim4_checks_and_routes_with_the_generated_configuration() {
    let dir = tempfile::tempdir().expect("tmp");
    build_and_load(
        dir.path(),
        "name = \"staves-exim4\"\npackages = [\"exim4-daemon-light\"]\ninit = false\n",
    );
    let exim = |args: &[&str]| {
        let mut all = vec![
            "run",
            "--rm",
            "--entrypoint",
            "/usr/sbin/exim4",
            "staves-exim4:latest",
        ];
        all.extend(args);
        container(&all)
    };
    let out = exim(&["-bV"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(
        text.contains("Configuration file is /var/lib/exim4/config.autogenerated"),
        "{text}"
    );
    // A local account's mail goes to its spool; root's to /var/mail/mail (Debian's
    // mail4root); an unknown local part nowhere.
    let out = exim(&["-bt", "mail@localhost"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(
        text.contains("router = local_user, transport = mail_spool"),
        "{text}"
    );
    let out = exim(&["-bt", "root@localhost"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("-> /var/mail/mail"), "{text}");
    let out = exim(&["-bt", "nobody-here@localhost"]);
    assert!(!out.status.success());
}

/// `staves scripts` says what matters: calls of one program counted with the first cut
/// short (`--all` gives every one in full), and no failure claimed that a real install
/// would not have — libc6's `preinst` passes its kernel check on any host that runs it.
#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn the_scripts_report_is_short_and_claims_nothing_false() {
    let spec = support::examples().join("python3/staves.toml");
    let report = |extra: &[&str]| {
        let mut args = vec!["scripts", "-f", spec.to_str().expect("utf8")];
        args.extend(extra);
        let out = support::staves(&args, &shared_cache());
        assert!(out.status.success(), "{}", stderr(&out));
        support::stdout(&out)
    };
    let short = report(&[]);
    assert!(short.len() < 4096, "{} bytes:\n{short}", short.len());
    assert!(short.lines().all(|l| l.chars().count() < 200), "{short}");
    assert!(
        short.contains("2 calls, the first: /usr/bin/python3.11"),
        "{short}"
    );
    assert!(!short.contains("exits with status"), "{short}");
    let all = report(&["--all"]);
    assert!(all.len() > 10 * short.len(), "{} bytes", all.len());
    assert!(all.contains("/usr/lib/python3.11/zipfile.py"));
}

/// chrony's postinst gives `chrony.keys` to `_chrony` (0640) and its state directory 0750
/// when `chronyd -p` shows no `user` directive; dovecot-core's gives its
/// SQL and dict configuration files group `dovecot` and 0640, all but those in `conf.d/`
/// (a `cut -b -7` decides) — as Debian's own install leaves them.
#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn chrony_and_dovecot_configuration_gets_debians_groups_and_modes() {
    let tree = image_of(&["chrony", "dovecot-core"], &[]);
    let chrony = id_of(&tree, "etc/group", "_chrony");
    let keys = &tree["etc/chrony/chrony.keys"];
    assert_eq!((keys.mode, keys.uid, keys.gid), (0o640, 0, chrony));
    let chrony_user = id_of(&tree, "etc/passwd", "_chrony");
    // (/var/log/chrony is not shipped: the service makes it when it starts.)
    let state = &tree["var/lib/chrony"];
    assert_eq!((state.mode, state.uid), (0o750, chrony_user));
    // dh_apparmor's local profile: `install --mode 644 /dev/null FILE`.
    let local = &tree["etc/apparmor.d/local/usr.sbin.chronyd"];
    assert_eq!((local.mode, local.text.as_deref()), (0o644, Some("")));
    let dovecot = id_of(&tree, "etc/group", "dovecot");
    for file in [
        "etc/dovecot/dovecot-sql.conf.ext",
        "etc/dovecot/dovecot-dict-sql.conf.ext",
        "etc/dovecot/dovecot-dict-auth.conf.ext",
    ] {
        let entry = &tree[file];
        assert_eq!(
            (entry.mode, entry.uid, entry.gid),
            (0o640, 0, dovecot),
            "{file}"
        );
    }
    let auth = &tree["etc/dovecot/conf.d/10-auth.conf"];
    assert_eq!((auth.mode, auth.gid), (0o644, 0), "conf.d keeps its mode");
}

/// tomcat10's postinst makes its account with `systemd-sysusers` (from its `sysusers.d`
/// file), installs its configuration from templates with `ucf` and gives it to group
/// `tomcat` 0640, and its log directory comes from its `tmpfiles.d` file (2770
/// tomcat:adm) — so the image holds what Tomcat needs to start.
#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn tomcat10_gets_its_account_configuration_and_directories() {
    let tree = image_of(&["tomcat10"], &[]);
    let tomcat = id_of(&tree, "etc/passwd", "tomcat");
    let tomcat_group = id_of(&tree, "etc/group", "tomcat");
    let adm = id_of(&tree, "etc/group", "adm");
    assert!((100..1000).contains(&tomcat), "a system account");
    for file in [
        "server.xml",
        "web.xml",
        "context.xml",
        "catalina.properties",
        "logging.properties",
        "jaspic-providers.xml",
        "tomcat-users.xml",
    ] {
        let entry = &tree[&format!("etc/tomcat10/{file}")];
        assert_eq!(
            (entry.mode, entry.uid, entry.gid),
            (0o640, 0, tomcat_group),
            "{file}"
        );
    }
    for file in ["etc/default/tomcat10", "etc/logrotate.d/tomcat10"] {
        assert!(tree.contains_key(file), "{file}");
    }
    let catalina = &tree["etc/tomcat10/Catalina"];
    assert_eq!((catalina.mode, catalina.gid), (0o775, tomcat_group));
    let logs = &tree["var/log/tomcat10"];
    assert_eq!((logs.mode, logs.uid, logs.gid), (0o2770, tomcat, adm));
}

/// Tomcat starts as Debian's service starts it (its start script, as `tomcat`, with
/// Debian's CATALINA_* variables) and answers HTTP with the default ROOT webapp its
/// postinst copies (`cp -r`).
#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn tomcat10_answers_http_in_the_engine() {
    let dir = tempfile::tempdir().expect("tmp");
    build_and_load(
        dir.path(),
        r#"name = "staves-test-tomcat"
packages = ["tomcat10", "dash", "coreutils"]
user = "tomcat"
command = ["/bin/sh", "/usr/libexec/tomcat10/tomcat-start.sh"]
environment = { CATALINA_HOME = "/usr/share/tomcat10", CATALINA_BASE = "/var/lib/tomcat10", CATALINA_TMPDIR = "/tmp", JAVA_OPTS = "-Djava.awt.headless=true" }
ports = ["8080"]
"#,
    );
    let name = format!("staves-tomcat-{}", std::process::id());
    let started = container(&[
        "run",
        "-d",
        "--rm",
        "--name",
        &name,
        "-p",
        "127.0.0.1::8080",
        "staves-test-tomcat:latest",
    ]);
    assert!(started.status.success(), "{}", stderr(&started));
    let address = support::engine::published(&name, "8080");
    let page = support::engine::served(&format!("http://{address}/"), 120)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let logs = container(&["logs", &name]);
    container(&["stop", &name]);
    container(&["rmi", "staves-test-tomcat:latest"]);
    assert!(
        page.contains("It works !"),
        "{page}{}{}",
        support::stdout(&logs),
        stderr(&logs)
    );
}

/// The release the host does not run (Debian 13 on a 12 host, and back), from the host's
/// mirror: tomcat10's account made from its `sysusers.d` file, the CA directory's hash
/// links, and Java's keystore with an entry for each certificate link.
#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn the_other_release_gets_sysusers_accounts_ca_links_and_javas_keystore() {
    let (other, repository) = support::other_release();
    let tree = image_with(
        &["tomcat10", "ca-certificates-java", "passwd"],
        &[],
        &repository,
    );
    let os = tree["usr/lib/os-release"].text.clone().unwrap_or_default();
    assert!(os.contains(other), "{os}");
    let tomcat = id_of(&tree, "etc/passwd", "tomcat");
    assert_eq!(id_of(&tree, "etc/group", "tomcat"), tomcat);
    assert!(
        !tree.contains_key("var/lib/tomcat"),
        "sysusers makes no home"
    );
    // systemd-sysusers locks its accounts with `!*` (a `u!` line also expires it), and
    // systemd's postinst runs it before passwd's pwconv (passwd is not essential in Debian
    // 13): its accounts come first in the shadow files it wrote, base-passwd's after them.
    let shadow = tree["etc/shadow"].text.clone().expect("text");
    let lines: Vec<&str> = shadow.lines().collect();
    assert!(lines.contains(&"tomcat:!*:::::::"), "{shadow}");
    let network = lines
        .iter()
        .position(|l| *l == "systemd-network:!*::::::1:");
    let root = lines.iter().position(|l| l.starts_with("root:*:"));
    assert!(network.is_some() && network < root, "{shadow}");
    let gshadow = tree["etc/gshadow"].text.clone().expect("text");
    assert!(gshadow.starts_with("systemd-journal:!*::\n"), "{gshadow}");
    assert!(gshadow.contains("\ntomcat:!*::\n"), "{gshadow}");
    let pem_links = tree
        .iter()
        .filter(|(p, e)| {
            p.starts_with("etc/ssl/certs/")
                && p.ends_with(".pem")
                && e.link
                    .as_deref()
                    .is_some_and(|l| l.starts_with("/usr/share/ca-certificates/"))
        })
        .count();
    let hash_links = tree
        .keys()
        .filter(|p| {
            p.strip_prefix("etc/ssl/certs/")
                .and_then(|n| n.split_once('.'))
                .is_some_and(|(h, n)| h.len() == 8 && n.parse::<u32>().is_ok())
        })
        .count();
    assert!(pem_links > 100, "{pem_links} certificate links");
    assert_eq!(hash_links, pem_links, "a hash link for each certificate");
    let store = &tree["etc/ssl/certs/java/cacerts"];
    assert_eq!(
        &store.head[..4],
        &[0xFE, 0xED, 0xFE, 0xED],
        "a JKS keystore"
    );
    let count = u32::from_be_bytes([store.head[8], store.head[9], store.head[10], store.head[11]]);
    assert_eq!(count as usize, pem_links);
}
