//! The web console's files, embedded at build time (`build.rs`, from `console/dist`),
//! served at `/` beside the API they use.
//!
//! Every answer carries a strict Content-Security-Policy: scripts, styles and
//! connections from this origin only, no inline script or style, no framing. The
//! console's routes live after `#` (`/#/subscribers/42`), so the server knows only the
//! files themselves. Vite names assets after their content: those are cached for a
//! year; `index.html` is revalidated on every load.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};

/// One embedded file.
#[derive(Debug)]
pub struct Asset {
    /// URL path (`/index.html`, `/assets/index-1a2b3c.js`).
    pub path: &'static str,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// The file.
    pub body: &'static [u8],
}

/// The console's files; empty when the binary was built without them.
pub static ASSETS: &[Asset] = include!(concat!(env!("OUT_DIR"), "/console_assets.rs"));

/// The policy of every console answer. `img-src data:` for the TOTP QR code, drawn in
/// the page.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                       img-src 'self' data:; connect-src 'self'; font-src 'self'; \
                       manifest-src 'self'; base-uri 'none'; form-action 'self'; \
                       frame-ancestors 'none'";

/// Served at `/` when the binary holds no console.
const NOT_BUILT: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>ProISP console not built</title></head><body><h1>The web console is not built</h1>\
<p>This proisp-adminapi was compiled without the console's assets. Build them with \
<code>make console</code> (npm ci and vite build in <code>adminapi/console</code>), then \
build proisp-adminapi again; <code>make run</code> does both. The REST API is at \
<code>/api/v1</code>.</p></body></html>";

fn find(path: &str) -> Option<&'static Asset> {
    let path = if path == "/" { "/index.html" } else { path };
    ASSETS.iter().find(|a| a.path == path)
}

fn secured(mut res: HttpResponse) -> HttpResponse {
    let headers = res.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    res
}

/// `GET /` and the console's files.
async fn serve(req: HttpRequest) -> HttpResponse {
    let Some(asset) = find(req.path()) else {
        return secured(
            HttpResponse::Ok()
                .content_type("text/html; charset=utf-8")
                .insert_header((header::CACHE_CONTROL, "no-cache"))
                .body(NOT_BUILT),
        );
    };
    let cache = if asset.path.starts_with("/assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    secured(
        HttpResponse::Ok()
            .content_type(asset.content_type)
            .insert_header((header::CACHE_CONTROL, cache))
            .body(asset.body),
    )
}

/// The console's routes (GET): `/` and every embedded file; without a build, `/` only,
/// with the page that says how to make one.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(serve));
    for asset in ASSETS {
        cfg.route(asset.path, web::get().to(serve));
    }
}
