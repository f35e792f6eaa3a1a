//! `rm`: delete objects, or everything under prefixes, following the daemon's streamed
//! progress.
//!
//! Without `-r` all URIs go in one `DeleteTarget::Objects` call; with `-r` each URI is a
//! `DeleteTarget::Prefix`, deleted one after the other with running totals across them. A
//! recursive delete of a whole bucket (or the file system root) needs `--all`: one missing
//! path segment should not empty a bucket. The daemon deletes while it is still listing and
//! reports every per-key failure; those are printed one line each and make the exit status 1.

use std::time::Instant;

use anyhow::{bail, Result};
use futures::StreamExt;
use indicatif::ProgressBar;
use serde::Serialize;
use serde_json::json;

use s3dlio_client::{v1, Client, DeleteTarget};

use crate::cli::RmArgs;
use crate::output::{self, Out};
use crate::{progress, uri};

#[derive(Serialize)]
struct KeyErrorJson {
    uri: String,
    code: i32,
    message: String,
}

/// Totals over every target of one `rm`.
#[derive(Default, Clone, Copy)]
struct Counts {
    listed: u64,
    deleted: u64,
    failed: u64,
}

pub async fn rm(client: &Client, args: RmArgs, out: &mut Out) -> Result<()> {
    let targets = targets(&args)?;
    let bar = progress::deletes();
    let started = Instant::now();
    let mut totals = Counts::default();
    let mut errors = Vec::new();

    for target in targets {
        let base = totals;
        let mut stream = client.delete(target, args.dry_run).await?;
        while let Some(p) = stream.next().await {
            let p = p?;
            totals = Counts {
                listed: base.listed + p.listed,
                deleted: base.deleted + p.deleted,
                failed: base.failed + p.failed,
            };
            for e in p.errors {
                progress::eprintln_above(&bar, &format!("s3dlioctl: {}", key_error_line(&e)));
                if out.json {
                    errors.push(KeyErrorJson {
                        uri: e.uri,
                        code: e.code,
                        message: e.message,
                    });
                }
            }
            if !p.dry_run_uris.is_empty() {
                print_dry_run(&bar, &p.dry_run_uris, out)?;
            }
            show(&bar, totals, args.dry_run);
            if p.done {
                break;
            }
        }
    }
    bar.finish_and_clear();

    let took = started.elapsed();
    if out.json && !args.dry_run {
        out.json_doc(&json!({
            "listed": totals.listed,
            "deleted": totals.deleted,
            "failed": totals.failed,
            "seconds": took.as_secs_f64(),
            "errors": errors,
        }))?;
    }
    let summary = if args.dry_run {
        format!(
            "would delete {} objects, {} failed in {} (dry run)",
            totals.listed.saturating_sub(totals.failed),
            totals.failed,
            output::elapsed(took)
        )
    } else {
        format!(
            "deleted {} objects, {} failed in {}",
            totals.deleted,
            totals.failed,
            output::elapsed(took)
        )
    };
    if totals.failed > 0 {
        out.flush()?;
        bail!(summary);
    }
    eprintln!("{summary}");
    Ok(())
}

/// What to ask the daemon to delete, after refusing whole buckets without `--all`.
fn targets(args: &RmArgs) -> Result<Vec<DeleteTarget>> {
    if !args.recursive {
        if args.pattern.is_some() {
            bail!("rm: --pattern needs -r (it filters the objects under a prefix)");
        }
        if args.all {
            bail!("rm: --all needs -r (it allows a whole bucket as the prefix)");
        }
        return Ok(vec![DeleteTarget::Objects(args.uris.clone())]);
    }
    if !args.all {
        if let Some(root) = args.uris.iter().find(|u| uri::is_bucket_root(u)) {
            bail!(
                "rm: refusing to delete everything in {root} (a whole bucket, container or file \
                 system root); add --all if you mean it"
            );
        }
    }
    Ok(args
        .uris
        .iter()
        .map(|u| DeleteTarget::Prefix {
            uri: u.clone(),
            pattern: args.pattern.clone(),
        })
        .collect())
}

/// The daemon's message, which names the operation and URI; the URI is added if it does not.
fn key_error_line(e: &v1::KeyError) -> String {
    let message = if e.message.is_empty() {
        format!("{:?}", tonic::Code::from_i32(e.code))
    } else {
        e.message.clone()
    };
    if e.uri.is_empty() || message.contains(&e.uri) {
        message
    } else {
        format!("delete {}: {message}", e.uri)
    }
}

fn print_dry_run(bar: &ProgressBar, uris: &[String], out: &mut Out) -> Result<()> {
    bar.suspend(|| {
        for u in uris {
            if out.json {
                out.json_line(&json!({ "uri": u }))?;
            } else {
                out.line(u)?;
            }
        }
        out.flush()
    })?;
    Ok(())
}

fn show(bar: &ProgressBar, c: Counts, dry_run: bool) {
    bar.set_length(c.listed);
    if dry_run {
        bar.set_position(c.listed);
        bar.set_message("listed (dry run)");
    } else {
        bar.set_position(c.deleted + c.failed);
        bar.set_message(if c.failed > 0 {
            format!("deleted, {} failed", c.failed)
        } else {
            "deleted".to_string()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(recursive: bool, all: bool, uris: &[&str]) -> RmArgs {
        RmArgs {
            recursive,
            pattern: None,
            all,
            dry_run: false,
            uris: uris.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn plain_rm_sends_one_object_list() {
        let t = targets(&args(false, false, &["s3://b/x", "s3://b/y"])).unwrap();
        assert!(matches!(&t[..], [DeleteTarget::Objects(u)] if u.len() == 2));
    }

    #[test]
    fn pattern_and_all_need_recursive() {
        let mut a = args(false, false, &["s3://b/p/"]);
        a.pattern = Some("x".into());
        let err = targets(&a).unwrap_err().to_string();
        assert!(err.contains("--pattern needs -r"), "{err}");
        let err = targets(&args(false, true, &["s3://b/"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("--all needs -r"), "{err}");
    }

    #[test]
    fn recursive_rm_sends_one_prefix_per_uri() {
        let mut a = args(true, false, &["s3://b/p/", "file:///tmp/x/"]);
        a.pattern = Some("\\.tmp$".into());
        let t = targets(&a).unwrap();
        assert_eq!(t.len(), 2);
        assert!(
            matches!(&t[0], DeleteTarget::Prefix { uri, pattern: Some(p) } if uri == "s3://b/p/" && p == "\\.tmp$")
        );
    }

    #[test]
    fn recursive_rm_of_a_whole_bucket_needs_all() {
        for root in ["s3://b", "gs://b/", "az://acct/c/", "file:///"] {
            let err = targets(&args(true, false, &["s3://b/ok/", root]))
                .unwrap_err()
                .to_string();
            assert!(err.contains("--all") && err.contains(root), "{err}");
            assert!(targets(&args(true, true, &[root])).is_ok());
        }
    }

    #[test]
    fn key_errors_name_their_uri() {
        let e = v1::KeyError {
            uri: "s3://b/x".into(),
            code: 5,
            message: "delete s3://b/x: not found".into(),
        };
        assert_eq!(key_error_line(&e), "delete s3://b/x: not found");
        let e = v1::KeyError {
            uri: "s3://b/x".into(),
            code: 7,
            message: "permission denied".into(),
        };
        assert_eq!(key_error_line(&e), "delete s3://b/x: permission denied");
        let e = v1::KeyError {
            uri: "s3://b/x".into(),
            code: 5,
            message: String::new(),
        };
        assert_eq!(key_error_line(&e), "delete s3://b/x: NotFound");
    }
}
