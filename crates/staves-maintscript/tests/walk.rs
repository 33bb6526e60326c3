//! Scripts walked against a small image: which commands run, with which arguments.

use std::collections::BTreeMap;

use staves_maintscript::{FileTest, Image, Invocation, NoteKind, Ran, Status, run};

#[derive(Default)]
struct Files {
    files: BTreeMap<String, String>,
    ran: Vec<String>,
    unmodelled: Vec<String>,
    written: Vec<(String, String, bool)>,
}

impl Image for Files {
    fn unmodelled(&mut self, argv: &[String]) {
        self.unmodelled.push(argv.join(" "));
    }
    fn debconf(&self, question: &str) -> Option<String> {
        (question == "pkg/ssl").then(|| "true".into())
    }
    fn debconf_set(&mut self, _question: &str, _value: &str) {}
    fn run(&mut self, argv: &[String], stdin: Option<&str>) -> Option<Ran> {
        self.ran.push(argv.join(" "));
        Some(match argv[0].as_str() {
            "getent" => Ran::status(Status::from_bool(argv.get(2).is_some_and(|u| u == "root"))),
            "dpkg" if argv.get(1).is_some_and(|a| a == "--print-architecture") => Ran {
                status: Status::Success,
                stdout: Some("amd64\n".into()),
            },
            "tr" => Ran {
                status: Status::Success,
                stdout: stdin.map(|s| s.to_uppercase()),
            },
            "hostname" => Ran::unknown(),
            "mystery" | "update-thing" => return None,
            _ => Ran::ok(),
        })
    }
    fn test(&self, path: &str, test: FileTest) -> Option<bool> {
        Some(match test {
            FileTest::Dir => self
                .files
                .keys()
                .any(|f| f.starts_with(&format!("{path}/"))),
            _ => self.files.contains_key(path),
        })
    }
    fn glob(&self, pattern: &str) -> Option<Vec<String>> {
        Some(
            self.files
                .keys()
                .filter(|f| staves_maintscript::pattern_matches(pattern, f))
                .cloned()
                .collect(),
        )
    }
    fn read(&self, path: &str) -> Option<String> {
        self.files.get(path).cloned()
    }
    fn write(&mut self, path: &str, text: &str, append: bool) -> Status {
        self.written.push((path.into(), text.into(), append));
        Status::Success
    }
}

fn walk(script: &str, files: &[&str]) -> (Files, staves_maintscript::Report) {
    let mut image = Files::default();
    for f in files {
        image.files.insert((*f).into(), String::new());
    }
    let report = run(
        script,
        &Invocation::first_configure("pkg", "amd64"),
        &mut image,
    );
    (image, report)
}

#[test]
fn follows_the_configure_branch_of_a_first_install() {
    let script = r#"#!/bin/sh
set -e
case "$1" in
    configure)
        if [ -z "$2" ]; then
            echo first > /etc/first
        fi
        if dpkg --compare-versions "$2" lt 1.0; then :; fi
        ;;
    abort-upgrade|abort-remove)
        chown nobody /never
        ;;
    *)
        echo "unknown" >&2; exit 1 ;;
esac
exit 0
chown nobody /after-exit
"#;
    let (image, report) = walk(script, &[]);
    assert_eq!(
        image.written,
        [("/etc/first".into(), "first\n".into(), false)]
    );
    assert!(
        image.ran.iter().all(|c| !c.starts_with("chown")),
        "{:?}",
        image.ran
    );
    assert_eq!(report.status, Some(Status::Success));
}

#[test]
fn expands_variables_functions_and_loops() {
    let script = r#"#!/bin/sh
PG=15
DIR="/usr/lib/postgresql/$PG"
add_alt() {
    update-alternatives --install "/usr/share/man/man1/$1" "$1" "$DIR/man/man1/$1" 150
}
for f in $DIR/man/man1/*.1.gz; do
    add_alt "${f##*/}"
done
for x in a "b c"; do echo "$x" >> /etc/list; done
USERNAME=${SSHD_USER:-sshd}
adduser --system $USERNAME
"#;
    let files = [
        "/usr/lib/postgresql/15/man/man1/psql.1.gz",
        "/usr/lib/postgresql/15/man/man1/pg_dump.1.gz",
    ];
    let (image, _) = walk(script, &files);
    assert_eq!(
        image.ran,
        [
            "update-alternatives --install /usr/share/man/man1/pg_dump.1.gz pg_dump.1.gz /usr/lib/postgresql/15/man/man1/pg_dump.1.gz 150",
            "update-alternatives --install /usr/share/man/man1/psql.1.gz psql.1.gz /usr/lib/postgresql/15/man/man1/psql.1.gz 150",
            "adduser --system sshd",
        ]
    );
    assert_eq!(image.written.len(), 2);
    assert_eq!(image.written[1], ("/etc/list".into(), "b c\n".into(), true));
}

#[test]
fn decides_conditions_on_accounts_files_and_commands() {
    let script = r#"
if ! getent passwd postgres >/dev/null; then
    adduser --system postgres
fi
getent passwd root >/dev/null || adduser --system root
[ -e /etc/present ] && chmod 640 /etc/present
[ -e /etc/absent ] && chmod 640 /etc/absent
if [ -x /usr/bin/present-tool ] && command -v present-tool >/dev/null; then present-tool --run; fi
if which absent-tool >/dev/null; then absent-tool; fi
ARCH=$(dpkg --print-architecture)
mkdir -p /usr/lib/$ARCH
"#;
    let (image, report) = walk(script, &["/etc/present", "/usr/bin/present-tool"]);
    let ran: Vec<&str> = image
        .ran
        .iter()
        .map(String::as_str)
        .filter(|c| !c.starts_with("getent") && !c.starts_with("dpkg"))
        .collect();
    assert_eq!(
        ran,
        [
            "adduser --system postgres",
            "chmod 640 /etc/present",
            "present-tool --run",
            "mkdir -p /usr/lib/amd64"
        ]
    );
    assert!(report.notes.is_empty(), "{:?}", report.notes);
}

#[test]
fn set_e_stops_at_a_failure_outside_conditions() {
    let (image, report) = walk(
        "set -e\nfalse || true\n[ -e /nope ] && touch /a\nfalse\ntouch /b\n",
        &[],
    );
    assert!(image.ran.is_empty(), "{:?}", image.ran);
    assert_eq!(report.status, Some(Status::Failure(1)));
    let (image, _) = walk("false\ntouch /b\n", &[]);
    assert_eq!(image.ran, ["touch /b"]);
}

#[test]
fn unknown_values_are_reported_never_guessed() {
    let script = "NAME=$(hostname)\necho \"$NAME\" > /etc/mailname\nchown $NAME /x\nif [ \"$NAME\" = x ]; then touch /y; fi\nwhile read line; do touch /z; done < /etc/list\n";
    let (image, report) = walk(script, &[]);
    assert!(image.written.is_empty());
    assert_eq!(image.ran, ["hostname", "touch /y"]);
    let kinds: Vec<&NoteKind> = report.notes.iter().map(|n| &n.kind).collect();
    assert_eq!(
        kinds,
        [
            &NoteKind::UnknownWord,
            &NoteKind::UnknownWord,
            &NoteKind::Undecided,
            &NoteKind::Unsupported,
            &NoteKind::Unsupported
        ]
    );
    assert_eq!(report.notes[1].line, 3);
}

#[test]
fn here_documents_and_pipes_carry_text() {
    let script = "V=1\ncat > /etc/conf <<EOF\nversion=$V\nEOF\ncat <<'EOF' > /etc/raw\n$V\nEOF\necho abc | tr a-z A-Z > /etc/upper\nF=/etc/braced\ncat << EOF > \"${F}\"\nv=${V}\nEOF\nfor i in a b; do\n  echo \"$i: root\"\ndone >> /etc/aliases\nf() {\n  local dir=${DPKG_ADMINDIR:-/nowhere}\n  echo x > $dir/arch-native\n}\nf\n";
    let (image, _) = walk(script, &[]);
    assert_eq!(
        image.written,
        [
            ("/etc/conf".into(), "version=1\n".into(), false),
            ("/etc/raw".into(), "$V\n".into(), false),
            ("/etc/upper".into(), "ABC\n".into(), false),
            ("/etc/braced".into(), "v=1\n".into(), false),
            ("/etc/aliases".into(), "a: root\nb: root\n".into(), true),
            ("/var/lib/dpkg/arch-native".into(), "x\n".into(), false),
        ]
    );
}

#[test]
fn a_script_that_does_not_parse_is_a_note() {
    let (_, report) = walk("if then fi (", &[]);
    assert_eq!(report.notes[0].kind, NoteKind::Syntax);
    assert_eq!(report.status, None);
}

#[test]
fn or_lists_over_lines_are_conditions() {
    let (image, report) = walk(
        "set -e\n[ -d /var/run/x ] || \\\n   install -d /var/run/x\ntouch /ok\n",
        &[],
    );
    assert_eq!(
        image.ran,
        ["install -d /var/run/x", "touch /ok"],
        "{:?}",
        report.notes
    );
}

#[test]
fn shipped_shell_scripts_are_walked_and_debconf_answers_defaults() {
    let script = "db_get pkg/ssl\nSSL=$RET\nupdate-thing one\nmystery --x\ndb_get pkg/other || echo none > /etc/none\n";
    let mut image = Files::default();
    image.files.insert(
        "/usr/sbin/update-thing".into(),
        "#!/bin/sh\nset -e\necho \"$1 $SSL\" > /etc/thing\nexit 0\n".into(),
    );
    let report = run(
        script,
        &Invocation::first_configure("pkg", "amd64"),
        &mut image,
    );
    // The child shell does not see the caller's unexported variables.
    assert_eq!(
        image.written,
        [
            ("/etc/thing".into(), "one \n".into(), false),
            ("/etc/none".into(), "none\n".into(), false)
        ]
    );
    assert_eq!(image.unmodelled, ["mystery --x"]);
    assert_eq!(report.status, Some(Status::Success));
}

#[test]
fn read_loops_over_files_and_ifs_splitting() {
    let script = r#"
SHELLS='#'
while IFS='#' read -r line _; do
    [ -n "$line" ] || continue
    SHELLS="$SHELLS$line#"
done < /usr/share/shells
IFS='#'
set -f
set -- ${SHELLS###}
set +f
IFS=' '
for s; do echo "$s" >> /etc/shells; done
printf 'a b\n' | while read first rest; do echo "$rest" > /etc/rest; done
"#;
    let mut image = Files::default();
    image.files.insert(
        "/usr/share/shells".into(),
        "# comment\n/bin/sh\n\n/bin/bash # bash\n".into(),
    );
    let report = run(
        script,
        &Invocation::first_configure("pkg", "amd64"),
        &mut image,
    );
    let written: Vec<(&str, &str)> = image
        .written
        .iter()
        .map(|(p, t, _)| (p.as_str(), t.as_str()))
        .collect();
    assert_eq!(
        written,
        [
            ("/etc/shells", "/bin/sh\n"),
            ("/etc/shells", "/bin/bash \n"),
            ("/etc/rest", "b\n")
        ],
        "{:?}",
        report.notes
    );
}

#[test]
fn set_e_does_not_judge_a_compound_by_an_exempt_failure() {
    let (image, report) = walk(
        "set -e\nif true; then false && true; fi\ntouch /reached\n",
        &[],
    );
    assert_eq!(image.ran, ["touch /reached"], "{:?}", report.notes);
}

#[test]
fn cut_takes_ranges_of_characters_and_fields() {
    // dovecot-core's postinst: only files outside conf.d/ get their group and mode.
    let script = r#"for f in dovecot-sql.conf.ext conf.d/10-auth.conf; do
  if [ "$(echo "$f" | cut -b -7)" != "conf.d/" ]; then chmod 0640 "/etc/$f"; fi
done
[ "$(echo x:y:z | cut -d: -f2-)" = "y:z" ] && touch /fields
[ "$(echo abcdef | cut -c 2,4-5)" = "bde" ] && touch /characters
"#;
    let (image, report) = walk(script, &[]);
    assert_eq!(
        image.ran,
        [
            "chmod 0640 /etc/dovecot-sql.conf.ext",
            "touch /fields",
            "touch /characters"
        ]
    );
    assert!(report.notes.is_empty(), "{:?}", report.notes);
}

/// Debian's helper scripts parse options with util-linux getopt and `eval set --`, and
/// exim4-config pipes through an alias.
#[test]
fn getopt_eval_and_aliases_are_followed() {
    let script = r#"set -e
TEMP=$(getopt -n tool -l init,output: -- +fh "$@")
eval set -- ${TEMP}
while test "$1" != "--"; do
  case $1 in
    --init) INIT=yes ;;
    --output) shift; OUT="$1" ;;
  esac
  shift
done
echo "$INIT $OUT" > /etc/opts
alias strip="sed -e 's/^[[:blank:]]*//' -e 's/[[:blank:]]*$//'"
v="$(printf '%s\n' '  spaced out  ' | strip)"
echo "[$v]" > /etc/stripped
eval "x='a b'"
echo "$x" > /etc/evaluated
"#;
    let mut image = Files::default();
    let report = run(
        script,
        &Invocation {
            package: "pkg".into(),
            script: "postinst".into(),
            arch: "amd64".into(),
            args: vec!["--output=/srv/o".into(), "--init".into()],
        },
        &mut image,
    );
    assert_eq!(
        image.written,
        [
            ("/etc/opts".into(), "yes /srv/o\n".into(), false),
            ("/etc/stripped".into(), "[spaced out]\n".into(), false),
            ("/etc/evaluated".into(), "a b\n".into(), false),
        ],
        "{:?} {:?}",
        report.notes,
        image.ran
    );
    assert!(image.unmodelled.is_empty(), "{:?}", image.unmodelled);
}

/// `NAME=VALUE` after a command name is an argument (`update-locale LANG=C.UTF-8`), before
/// it an assignment for that command alone; `local` still declares.
#[test]
fn assignment_words_after_the_command_name_are_arguments() {
    let (image, report) = walk(
        "v=x\nupdate-thing2 LANG=C.UTF-8 \"LC_ALL=$v\" plain\nf() { local a=\"$v y\"; echo \"$a\" > /etc/local; }\nf\n",
        &[],
    );
    assert_eq!(image.ran, ["update-thing2 LANG=C.UTF-8 LC_ALL=x plain"]);
    assert_eq!(
        image.written,
        [("/etc/local".to_owned(), "x y\n".to_owned(), false)]
    );
    assert!(report.notes.is_empty(), "{:?}", report.notes);
}

/// debhelper's dh_usrlocal: a subshell whose `while read` loop reads a here-document.
#[test]
fn a_subshell_reads_its_here_document() {
    let script = "(\n\tdefault_mode=0755\n\twhile read line; do\n\t\tset -- $line\n\t\tdir=\"$1\"; mode=\"$2\"\n\t\tif [ \"$mode\" = \"default\" ]; then mode=\"$default_mode\"; fi\n\t\tif [ ! -e \"$dir\" ]; then\n\t\t\tmkdir \"$dir\" 2>/dev/null && chmod \"$mode\" \"$dir\"\n\t\tfi\n\tdone\n) << DATA\n/usr/local/share default\n/usr/local/share/sgml 2775\nDATA\n";
    let (image, report) = walk(script, &[]);
    assert_eq!(
        image.ran,
        [
            "mkdir /usr/local/share",
            "chmod 0755 /usr/local/share",
            "mkdir /usr/local/share/sgml",
            "chmod 2775 /usr/local/share/sgml"
        ]
    );
    assert!(report.notes.is_empty(), "{:?}", report.notes);
}

/// `ls PATH…` of paths, for `ls DIR/*.conf | wc -l` (lighttpd's postinst).
#[test]
fn ls_lists_the_paths_that_exist() {
    let (image, report) = walk(
        "n=$(ls /etc/l/conf-enabled/*.conf 2>/dev/null | wc -l)\necho \"$n\" > /etc/count\nls /etc/l/a.conf /etc/l/b.conf > /etc/listed || echo missing > /etc/status\n",
        &["/etc/l/a.conf"],
    );
    assert_eq!(
        image.written,
        [
            ("/etc/count".to_owned(), "0\n".to_owned(), false),
            (
                "/etc/listed".to_owned(),
                "/etc/l/a.conf\n".to_owned(),
                false
            ),
            ("/etc/status".to_owned(), "missing\n".to_owned(), false)
        ]
    );
    assert!(report.notes.is_empty(), "{:?}", report.notes);
}
