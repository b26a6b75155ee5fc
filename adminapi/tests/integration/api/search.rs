//! Substring search over more matches than its trigram pass collects: the same order and
//! paging as over few.

use proisp_adminapi::permission::Role;
use proisp_store::{NewPlan, NewSubscriber};
use serde_json::Value;

use super::{Ctx, app, call, get, token, with_token};

#[actix_web::test]
async fn a_substring_search_pages_alike_over_few_and_many_matches() {
    let ctx = Ctx::new().await;
    ctx.admin("vera", Role::Viewer).await;
    let app = app!(ctx);
    let t = token!(app, ctx, "vera");
    let store = ctx.env.store().await;
    let plan = store
        .create_plan(&NewPlan::new("home", 20_000, 5_000))
        .await
        .unwrap();
    store
        .create_subscriber(&NewSubscriber::new("bulk0000", "pw", plan.id))
        .await
        .unwrap();
    // More matches than the trigram pass collects (a thousand), in id order.
    ctx.env
        .sql()
        .await
        .batch_execute(
            "INSERT INTO subscribers (username, password_enc, plan_id) \
             SELECT 'bulk' || lpad(i::text, 4, '0'), s.password_enc, s.plan_id \
             FROM subscribers s, generate_series(1, 1200) i WHERE s.username = 'bulk0000'",
        )
        .await
        .unwrap();
    let names = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["username"].as_str().unwrap().to_owned())
            .collect()
    };
    let list = |q: &str| with_token(get(&format!("/api/v1/subscribers?{q}")), &t);
    // Many matches: id order, page after page.
    let r = call!(app, ctx, list("q=bulk&limit=3"));
    assert_eq!(names(&r.json), ["bulk0000", "bulk0001", "bulk0002"]);
    let next = r.json["next"].as_str().unwrap().to_owned();
    let r = call!(app, ctx, list(&format!("q=bulk&limit=3&after={next}")));
    assert_eq!(names(&r.json), ["bulk0003", "bulk0004", "bulk0005"]);
    // Few: the same order and paging.
    let r = call!(app, ctx, list("q=bulk11&limit=60"));
    let few = names(&r.json);
    assert_eq!(few.len(), 60);
    assert_eq!(few[0], "bulk1100");
    let r = call!(app, ctx, list("username=ulk000&limit=5"));
    assert_eq!(
        names(&r.json),
        ["bulk0000", "bulk0001", "bulk0002", "bulk0003", "bulk0004"]
    );
    let next = r.json["next"].as_str().unwrap().to_owned();
    let r = call!(
        app,
        ctx,
        list(&format!("username=ulk000&limit=5&after={next}"))
    );
    assert_eq!(
        names(&r.json),
        ["bulk0005", "bulk0006", "bulk0007", "bulk0008", "bulk0009"]
    );
    assert_eq!(r.json["next"], Value::Null);
    let r = call!(app, ctx, list("q=bulk0777"));
    assert_eq!(names(&r.json), ["bulk0777"]);
}
