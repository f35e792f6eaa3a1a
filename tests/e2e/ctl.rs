//! `s3dlioctl` against the real daemon: every command, its output formats and exit codes.

use s3dlio_e2e::{err_stderr, ok_stdout, pattern_bytes, sha256, TestDaemon};
use serde_json::Value;

fn json(out: &std::process::Output) -> Value {
    serde_json::from_str(&ok_stdout(out)).expect("valid JSON")
}

/// Errors are one line, prefixed with the program name.
fn one_line_error(out: &std::process::Output) -> String {
    let err = err_stderr(out);
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err:?}");
    assert!(err.starts_with("s3dlioctl: "), "{err}");
    err
}

#[test]
fn put_ls_stat_get_rm_round_trip() {
    let d = TestDaemon::start();
    let src = d.path("src.bin");
    let data = pattern_bytes(3 * 1024 * 1024 + 11, 5);
    std::fs::write(&src, &data).unwrap();
    let uri = d.file_uri("bucket/dir/obj.bin");

    ok_stdout(&d.ctl(["mb", &d.file_uri("bucket")]));
    ok_stdout(&d.ctl(["put", src.to_str().unwrap(), &uri]));
    let listing = ok_stdout(&d.ctl(["ls", "-r", &d.file_uri("bucket/")]));
    assert_eq!(listing.lines().collect::<Vec<_>>(), [uri.as_str()]);
    let top = ok_stdout(&d.ctl(["ls", &d.file_uri("bucket/")]));
    assert_eq!(top.lines().collect::<Vec<_>>(), [d.file_uri("bucket/dir/")]);

    let long = ok_stdout(&d.ctl(["ls", "-r", "-l", &d.file_uri("bucket/")]));
    let fields: Vec<_> = long.split_whitespace().collect();
    assert_eq!(fields[0], data.len().to_string());
    assert!(fields[1].ends_with('Z'), "{long}");
    assert_eq!(fields[2], uri);

    let stat = json(&d.ctl(["--json", "stat", &uri]));
    assert_eq!(stat["size"], data.len() as u64);
    assert_eq!(stat["uri"], uri.as_str());
    assert!(stat["etag"].as_str().is_some_and(|e| !e.is_empty()));

    let dest = d.path("out/copy.bin");
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    let out = d.ctl(["get", &uri, "-o", dest.to_str().unwrap()]);
    ok_stdout(&out);
    assert_eq!(sha256(&std::fs::read(&dest).unwrap()), sha256(&data));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains('\r') && !stderr.contains('\u{1b}'),
        "no progress bar when piped: {stderr:?}"
    );

    let out = d.ctl([
        "get", &uri, "--offset", "1KiB", "--length", "100", "-o", "-",
    ]);
    assert!(out.status.success());
    assert_eq!(out.stdout, &data[1024..1124]);

    ok_stdout(&d.ctl(["rm", &uri]));
    assert!(ok_stdout(&d.ctl(["ls", "-r", &d.file_uri("bucket/")])).is_empty());
    ok_stdout(&d.ctl(["rb", &d.file_uri("bucket/dir")]));
    ok_stdout(&d.ctl(["rb", &d.file_uri("bucket")]));
    assert!(!d.path("bucket").exists());
}

#[test]
fn generated_put_names_objects_by_template_and_size() {
    let d = TestDaemon::start();
    let prefix = d.file_uri("gen/");
    ok_stdout(&d.ctl(["put", &prefix, "--num", "20", "--size", "4KiB"]));
    let names = ok_stdout(&d.ctl(["ls", "-r", &prefix]));
    let names: Vec<_> = names
        .lines()
        .map(|l| l.strip_prefix(&prefix).unwrap().to_string())
        .collect();
    assert_eq!(names.len(), 20);
    assert!(
        names.contains(&"object_0_of_20.dat".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"object_19_of_20.dat".to_string()),
        "{names:?}"
    );
    assert_eq!(
        std::fs::metadata(d.path("gen/object_7_of_20.dat"))
            .unwrap()
            .len(),
        4096
    );

    ok_stdout(&d.ctl([
        "put",
        &d.file_uri("gen2"),
        "--num",
        "3",
        "--size",
        "1KB",
        "--template",
        "s-{}.bin",
    ]));
    let lines: Vec<_> = ok_stdout(&d.ctl(["--json", "ls", "-r", &d.file_uri("gen2/")]))
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["uri"], d.file_uri("gen2/s-0.bin").as_str());
    assert_eq!(lines[0]["size"], 1000, "KB is decimal");
    assert_eq!(lines[0]["is_prefix"], false);

    // Argument mistakes get clap's usage message and exit code 2.
    let out = d.ctl(["put", &prefix, "--num", "2"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--size"));
}

#[test]
fn rm_recursive_with_pattern_dry_run_and_failures() {
    let d = TestDaemon::start();
    let prefix = d.file_uri("data/");
    ok_stdout(&d.ctl(["put", &prefix, "--num", "1500", "--size", "10"]));

    let dry = ok_stdout(&d.ctl(["rm", "-r", "--dry-run", "--pattern", r"_1\d\d_of", &prefix]));
    assert_eq!(dry.lines().count(), 100, "object_100..199");
    assert_eq!(
        ok_stdout(&d.ctl(["ls", "-r", &prefix])).lines().count(),
        1500,
        "a dry run deletes nothing"
    );

    let report = json(&d.ctl(["--json", "rm", "-r", "--pattern", r"_1\d\d_of", &prefix]));
    assert_eq!(
        (report["deleted"].as_u64(), report["failed"].as_u64()),
        (Some(100), Some(0))
    );
    assert_eq!(
        ok_stdout(&d.ctl(["ls", "-r", &prefix])).lines().count(),
        1400
    );

    // One present, one missing: exit 1, the missing key named, the present one gone.
    let present = format!("{prefix}object_0_of_1500.dat");
    let missing = format!("{prefix}no-such-object");
    let out = d.ctl(["rm", &present, &missing]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&missing) && err.contains("not found"), "{err}");
    assert!(!d.path("data/object_0_of_1500.dat").exists());

    let e = one_line_error(&d.ctl(["rm", "--pattern", "x", &prefix]));
    assert!(e.contains("-r"), "{e}");
    let e = one_line_error(&d.ctl(["rm", "-r", "file:///"]));
    assert!(e.contains("--all") || e.contains("everything"), "{e}");

    let out = d.ctl(["rm", "-r", &prefix]);
    ok_stdout(&out);
    assert!(ok_stdout(&d.ctl(["ls", "-r", &prefix])).is_empty());
}

#[test]
fn admin_commands_report_in_human_and_json_form() {
    let d = TestDaemon::start();
    ok_stdout(&d.ctl(["put", &d.file_uri("a/"), "--num", "5", "--size", "1KiB"]));
    let status = json(&d.ctl(["--json", "status"]));
    assert_eq!(status["pid"], d.pid());
    assert_eq!(status["draining"], false);
    assert!(status["backends"]
        .as_array()
        .unwrap()
        .iter()
        .any(|b| b["scheme"] == "file" && b["configured"] == true));
    let human = ok_stdout(&d.ctl(["status"]));
    assert!(
        human.contains("version") && human.contains(&d.socket.display().to_string()),
        "{human}"
    );

    let stats = json(&d.ctl(["--json", "stats"]));
    let put = stats["ops"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["op"] == "put")
        .expect("put row")
        .clone();
    assert_eq!(put["count"], 5);
    assert_eq!(put["bytes"], 5 * 1024);
    assert!(put["p99_us"].as_u64().unwrap() >= put["p50_us"].as_u64().unwrap());
    let table = ok_stdout(&d.ctl(["stats"]));
    assert!(table.lines().any(|l| l.starts_with("put")), "{table}");

    let sessions = json(&d.ctl(["--json", "sessions"]));
    assert!(
        sessions["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "s3dlioctl"),
        "{sessions}"
    );

    let drained = json(&d.ctl(["--json", "drain", "--deadline", "1s"]));
    assert_eq!(drained["in_flight"], 0);
    let e = one_line_error(&d.ctl(["ls", &d.file_uri("a/")]));
    assert!(e.contains("draining"), "{e}");
}

#[test]
fn errors_are_one_line_with_the_uri_and_a_nonzero_exit() {
    let d = TestDaemon::start();
    let missing = d.file_uri("missing.bin");
    let e = one_line_error(&d.ctl(["get", &missing, "-o", "-"]));
    assert!(e.contains(&missing) && e.contains("not found"), "{e}");
    let e = one_line_error(&d.ctl(["stat", "ftp://host/x"]));
    assert!(
        e.contains("ftp://host/x") && e.contains("unsupported scheme"),
        "{e}"
    );
    let e = one_line_error(&d.ctl(["get", &missing, "--offset", "12", "-o", "-"]));
    assert!(e.contains("not found"), "{e}");
    std::fs::write(d.path("five"), b"12345").unwrap();
    let e = one_line_error(&d.ctl(["get", &d.file_uri("five"), "--offset", "5", "-o", "-"]));
    assert!(e.contains("range starts at byte 5"), "{e}");
    // A failed download leaves no partial file.
    let dest = d.path("dl.bin");
    one_line_error(&d.ctl(["get", &missing, "-o", dest.to_str().unwrap()]));
    assert!(!dest.exists());

    let nowhere = std::process::Command::new(s3dlio_e2e::bin("s3dlioctl"))
        .args(["--socket", "/nonexistent/s.sock", "status"])
        .output()
        .unwrap();
    let e = one_line_error(&nowhere);
    assert!(e.contains("/nonexistent/s.sock"), "{e}");
}

#[test]
fn completions_are_generated_for_the_usual_shells() {
    let d = TestDaemon::start();
    for shell in ["bash", "zsh", "fish"] {
        let script = ok_stdout(&d.ctl(["completions", shell]));
        assert!(script.contains("s3dlioctl"), "{shell}");
        assert!(
            script.contains("rm"),
            "{shell} script knows the subcommands"
        );
    }
}

#[test]
fn get_recursive_downloads_a_prefix_through_get_many_in_shm_and_inline() {
    let d = TestDaemon::start();
    let src = d.path("tree");
    let files = [
        ("a.bin", 10_000usize),
        ("sub/b.bin", 0),
        ("sub/deeper/c.bin", 300_001),
    ];
    for (i, (rel, len)) in files.iter().enumerate() {
        let p = src.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, pattern_bytes(*len, i as u8)).unwrap();
    }
    for (mode, extra) in [("shm", None), ("inline", Some("--inline"))] {
        let dest = d.path(&format!("out-{mode}"));
        let mut args = vec![
            "--json".to_string(),
            "get".into(),
            "-r".into(),
            d.file_uri("tree"),
            "-o".into(),
            dest.display().to_string(),
        ];
        args.extend(extra.map(String::from));
        let doc = json(&d.ctl(&args));
        assert_eq!(doc["objects"], 3, "{mode}: {doc}");
        for (i, (rel, len)) in files.iter().enumerate() {
            let got = std::fs::read(dest.join(rel)).unwrap();
            assert_eq!(got.len(), *len, "{mode} {rel}");
            assert_eq!(
                sha256(&got),
                sha256(&pattern_bytes(*len, i as u8)),
                "{mode} {rel}"
            );
        }
    }
    // A single get goes through shared memory by default and gives the same bytes.
    let one = d.path("one.bin");
    ok_stdout(&d.ctl([
        "get",
        &d.file_uri("tree/sub/deeper/c.bin"),
        "-o",
        one.to_str().unwrap(),
    ]));
    assert_eq!(
        sha256(&std::fs::read(one).unwrap()),
        sha256(&pattern_bytes(300_001, 2))
    );
}

/// `-o` naming a device or FIFO (`-o /dev/null`) writes through it: renaming a temporary file
/// over it would replace the node with a plain file (as root, even `/dev/null`).
#[test]
fn get_into_a_fifo_writes_through_it_and_keeps_it() {
    use std::os::unix::fs::FileTypeExt;

    let d = TestDaemon::start();
    let data = pattern_bytes(2 * 1024 * 1024 + 3, 9);
    std::fs::write(d.path("obj.bin"), &data).unwrap();
    let uri = d.file_uri("obj.bin");
    let fifo = d.path("out.fifo");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    // Shared-memory delivery (the default on the socket), then inline gRPC chunks.
    for extra in [None, Some("--inline")] {
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read(fifo).unwrap())
        };
        let mut args = vec!["get", uri.as_str(), "-o", fifo.to_str().unwrap()];
        args.extend(extra);
        ok_stdout(&d.ctl(&args));
        let got = reader.join().unwrap();
        assert_eq!(sha256(&got), sha256(&data), "{extra:?}");
        let kind = std::fs::symlink_metadata(&fifo).unwrap().file_type();
        assert!(kind.is_fifo(), "{extra:?}: the FIFO was replaced");
    }
    assert!(
        std::fs::read_dir(d.path("")).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".part")),
        "no temporary file left behind"
    );
}
