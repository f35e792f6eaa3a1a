//! Azure credentials: connection strings parsed, and account SAS tokens signed from an account
//! key (HMAC-SHA256 over the string-to-sign of service version 2021-08-06), since the official
//! SDK has no Shared Key authentication.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use sha2::Sha256;

use crate::error::{Error, Result};

/// Azurite's well-known development account and key (public, documented by Microsoft).
pub const DEV_ACCOUNT: &str = "devstoreaccount1";
pub const DEV_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// The service version account SAS tokens are signed for.
const SAS_VERSION: &str = "2021-08-06";

/// The parts of a connection string the daemon uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectionString {
    pub account: Option<String>,
    pub key: Option<String>,
    pub sas: Option<String>,
    pub blob_endpoint: Option<String>,
    pub endpoint_suffix: Option<String>,
    pub protocol: Option<String>,
}

impl ConnectionString {
    /// Parses `Key=Value;Key=Value` (values may contain `=`, as base64 keys do).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] (op `configure`) for a part without `=`; the string itself
    /// is never echoed, since it holds a secret.
    pub fn parse(s: &str) -> Result<Self> {
        let mut out = ConnectionString::default();
        for (i, part) in s.split(';').map(str::trim).enumerate() {
            if part.is_empty() {
                continue;
            }
            let Some((k, v)) = part.split_once('=') else {
                return Err(Error::InvalidArgument {
                    op: "configure",
                    uri: "az://".into(),
                    reason: format!(
                        "azure.connection_string: part {} has no '=' (expected Key=Value;...)",
                        i + 1
                    ),
                });
            };
            let v = v.to_string();
            match k.trim() {
                "AccountName" => out.account = Some(v),
                "AccountKey" => out.key = Some(v),
                "SharedAccessSignature" => out.sas = Some(v),
                "BlobEndpoint" => out.blob_endpoint = Some(v),
                "EndpointSuffix" => out.endpoint_suffix = Some(v),
                "DefaultEndpointsProtocol" => out.protocol = Some(v),
                "UseDevelopmentStorage" if v.eq_ignore_ascii_case("true") => {
                    out.account = Some(DEV_ACCOUNT.into());
                    out.key = Some(DEV_KEY.into());
                    out.blob_endpoint = Some(format!("http://127.0.0.1:10000/{DEV_ACCOUNT}"));
                }
                _ => {}
            }
        }
        Ok(out)
    }
}

/// Signs an account SAS for the blob service (all resource types; read, write, delete, list,
/// add, create) valid from a little before `now` for `lifetime`.
///
/// # Errors
/// [`Error::InvalidArgument`] (op `configure`) when the key is not base64.
pub fn account_sas(
    account: &str,
    key_b64: &str,
    now: SystemTime,
    lifetime: Duration,
) -> Result<String> {
    let key = base64::engine::general_purpose::STANDARD
        .decode(key_b64.trim())
        .map_err(|e| Error::InvalidArgument {
            op: "configure",
            uri: format!("az://{account}"),
            reason: format!("the account key is not base64: {e}"),
        })?;
    // Clocks drift: start a quarter of an hour early.
    let start = iso8601(now.checked_sub(Duration::from_secs(900)).unwrap_or(now));
    let expiry = iso8601(now + lifetime);
    let (perms, services, types, protocols) = ("rwdlac", "b", "sco", "https,http");
    let to_sign = format!(
        "{account}\n{perms}\n{services}\n{types}\n{start}\n{expiry}\n\n{protocols}\n{SAS_VERSION}\n\n"
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes keys of any length");
    mac.update(to_sign.as_bytes());
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let enc = |s: &str| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string();
    Ok(format!(
        "sv={SAS_VERSION}&ss={services}&srt={types}&sp={perms}&st={}&se={}&spr={}&sig={}",
        enc(&start),
        enc(&expiry),
        enc(protocols),
        enc(&sig)
    ))
}

/// `2026-12-07T06:00:00Z`.
fn iso8601(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_strings_keep_base64_padding_and_know_azurite() {
        let c = ConnectionString::parse(
            "DefaultEndpointsProtocol=http;AccountName=a1;AccountKey=a2V5==;\
             BlobEndpoint=http://127.0.0.1:1/a1;",
        )
        .unwrap();
        assert_eq!(c.account.as_deref(), Some("a1"));
        assert_eq!(c.key.as_deref(), Some("a2V5=="));
        assert_eq!(c.blob_endpoint.as_deref(), Some("http://127.0.0.1:1/a1"));
        let dev = ConnectionString::parse("UseDevelopmentStorage=true").unwrap();
        assert_eq!(dev.account.as_deref(), Some(DEV_ACCOUNT));
        assert!(ConnectionString::parse("AccountName").is_err());
    }

    #[test]
    fn dates_render_in_utc() {
        assert_eq!(iso8601(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_709_210_096); // 2024-02-29 12:34:56
        assert_eq!(iso8601(t), "2024-02-29T12:34:56Z");
    }

    #[test]
    fn account_sas_has_every_field_and_a_url_safe_signature() {
        let sas = account_sas(
            DEV_ACCOUNT,
            DEV_KEY,
            UNIX_EPOCH + Duration::from_secs(1 << 30),
            Duration::from_secs(3600),
        )
        .unwrap();
        for field in [
            "sv=2021-08-06",
            "ss=b",
            "srt=sco",
            "sp=rwdlac",
            "st=",
            "se=",
            "sig=",
        ] {
            assert!(sas.contains(field), "{sas}");
        }
        assert!(!sas.contains('+') && !sas.contains('/'), "{sas}");
        assert!(account_sas(
            "a",
            "not base64!",
            SystemTime::now(),
            Duration::from_secs(60)
        )
        .is_err());
    }
}
