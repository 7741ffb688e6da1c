//! The players resource: reads, writes, and every documented error.

use serde_json::{Value, json};

use crate::helpers::*;

const MARTINEZ_ID: &str = "01772c59-43f0-5d85-b913-c78e4e281452";

#[tokio::test]
async fn the_squad_is_seeded_and_listed_by_squad_number() {
    let app = spawn_app().await;
    let response = app.get("/players").await;
    assert_eq!(response.status(), 200);
    assert!(
        header(response.headers(), "content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let players: Vec<Value> = response.json().await.unwrap();
    assert_eq!(players.len(), 26);
    let numbers: Vec<i64> = players
        .iter()
        .map(|p| p["squadNumber"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, (1..=26).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_seeded_player_reads_exactly_as_the_seed_data() {
    let app = spawn_app().await;
    let response = app.get(&format!("/players/{MARTINEZ_ID}")).await;
    assert_eq!(response.status(), 200);
    let player: Value = response.json().await.unwrap();
    assert_eq!(
        player,
        json!({
            "id": MARTINEZ_ID, "firstName": "Damián", "middleName": "Emiliano",
            "lastName": "Martínez", "dateOfBirth": "1992-09-02", "squadNumber": 23,
            "position": "Goalkeeper", "abbrPosition": "GK", "team": "Aston Villa FC",
            "league": "Premier League", "starting11": true
        })
    );
    let by_number: Value = app
        .get("/players/squadnumber/23")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_number, player);
}

#[tokio::test]
async fn unknown_players_are_404_and_malformed_paths_400() {
    let app = spawn_app().await;
    problem(
        app.get("/players/00000000-0000-0000-0000-000000000000")
            .await,
        404,
    )
    .await;
    problem(app.get("/players/squadnumber/99").await, 404).await;
    problem(app.get("/players/not-a-uuid").await, 400).await;
    problem(app.get("/players/squadnumber/ten").await, 400).await;
    problem(app.get("/players/squadnumber/1.5").await, 400).await;
}

#[tokio::test]
async fn create_returns_201_with_location_and_the_player() {
    let app = spawn_app().await;
    let token = app.token().await;
    let mut body = player_body(27);
    body["id"] = json!("11111111-1111-1111-1111-111111111111");
    body["nickname"] = json!("ignored");
    let response = app.create_player(&token, &body).await;
    assert_eq!(response.status(), 201);
    let location = header(response.headers(), "location").unwrap().to_owned();
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_str().unwrap();
    assert_ne!(
        id, "11111111-1111-1111-1111-111111111111",
        "client ids are ignored"
    );
    assert_eq!(location, format!("/players/{id}"));
    assert!(created.get("nickname").is_none());
    let mut expected = player_body(27);
    expected["id"] = json!(id);
    assert_eq!(created, expected);

    let fetched: Value = app.get(&location).await.json().await.unwrap();
    assert_eq!(fetched, created);
    let listed: Vec<Value> = app.get("/players").await.json().await.unwrap();
    assert_eq!(listed.len(), 27);
}

#[tokio::test]
async fn create_with_only_the_required_fields() {
    let app = spawn_app().await;
    let token = app.token().await;
    let response = app
        .http
        .post(app.url("/players"))
        .bearer_auth(&token)
        .json(
            &json!({"firstName": "A", "lastName": "B", "squadNumber": 30, "position": "Defender"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["starting11"], false);
    assert!(created.get("middleName").is_none());
}

#[tokio::test]
async fn create_with_a_taken_squad_number_is_409() {
    let app = spawn_app().await;
    let token = app.token().await;
    let response = app.create_player(&token, &player_body(10)).await;
    problem(response, 409).await;
}

#[tokio::test]
async fn invalid_bodies_are_422_naming_each_field() {
    let app = spawn_app().await;
    let token = app.token().await;
    let cases = [
        (
            json!({"lastName": "B", "squadNumber": 30, "position": "P"}),
            vec!["/firstName"],
        ),
        (
            json!({"firstName": "A", "lastName": "B", "position": "P"}),
            vec!["/squadNumber"],
        ),
        (
            json!({"firstName": "A", "lastName": "B", "squadNumber": 100, "position": "P"}),
            vec!["/squadNumber"],
        ),
        (
            json!({"firstName": "A", "lastName": "B", "squadNumber": 0, "position": "P"}),
            vec!["/squadNumber"],
        ),
        (
            json!({"firstName": 5, "lastName": "B", "squadNumber": "7", "position": "P", "starting11": "no"}),
            vec!["/firstName", "/squadNumber", "/starting11"],
        ),
        (
            json!({"firstName": "A", "lastName": "B", "squadNumber": 30, "position": "P", "dateOfBirth": "31/12/2000"}),
            vec!["/dateOfBirth"],
        ),
        (
            json!({"firstName": "A", "lastName": "B", "squadNumber": 30, "position": "P", "dateOfBirth": "0000-01-01"}),
            vec!["/dateOfBirth"],
        ),
        (
            json!({"firstName": "A", "lastName": "B", "squadNumber": 30, "position": "P", "dateOfBirth": "+10000-01-01"}),
            vec!["/dateOfBirth"],
        ),
        (
            json!({"firstName": "A\u{0}", "lastName": "B\nC", "squadNumber": 30, "position": "P"}),
            vec!["/firstName", "/lastName"],
        ),
        (json!([1, 2]), vec![""]),
        (json!("text"), vec![""]),
    ];
    for (body, pointers) in cases {
        let response = app.create_player(&token, &body).await;
        let problem = problem(response, 422).await;
        let got: Vec<&str> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                assert!(e["detail"].is_string());
                e["pointer"].as_str().unwrap()
            })
            .collect();
        assert_eq!(got, pointers, "{body}");
    }
}

#[tokio::test]
async fn a_body_that_is_not_json_is_400_and_another_media_type_415() {
    let app = spawn_app().await;
    let token = app.token().await;
    let repeated =
        r#"{"firstName":"A","lastName":"B","squadNumber":30,"position":"P","squadNumber":31}"#;
    for body in ["{not json", "", "{\"firstName\": ", repeated] {
        let response = app
            .http
            .post(app.url("/players"))
            .bearer_auth(&token)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        problem(response, 400).await;
    }
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let mut request = app
            .http
            .post(app.url("/players"))
            .bearer_auth(&token)
            .body(player_body(31).to_string());
        if let Some(content_type) = content_type {
            request = request.header("Content-Type", content_type);
        }
        problem(request.send().await.unwrap(), 415).await;
    }
}

#[tokio::test]
async fn an_oversized_body_is_413() {
    let app = spawn_app().await;
    let token = app.token().await;
    let mut body = player_body(32);
    body["pad"] = json!("x".repeat(70 * 1024));
    let response = app.create_player(&token, &body).await;
    problem(response, 413).await;
}

#[tokio::test]
async fn put_replaces_the_whole_player() {
    let app = spawn_app().await;
    let token = app.token().await;
    let before: Value = app
        .get("/players/squadnumber/10")
        .await
        .json()
        .await
        .unwrap();
    let replacement =
        json!({"firstName": "Lio", "lastName": "Messi", "squadNumber": 10, "position": "Forward"});
    let response = app
        .http
        .put(app.url("/players/squadnumber/10"))
        .bearer_auth(&token)
        .json(&replacement)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(response.text().await.unwrap(), "");
    let after: Value = app
        .get("/players/squadnumber/10")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(after["id"], before["id"], "the id is kept");
    assert_eq!(
        after,
        json!({"id": before["id"], "firstName": "Lio", "lastName": "Messi", "squadNumber": 10,
               "position": "Forward", "starting11": false})
    );
}

#[tokio::test]
async fn put_errors() {
    let app = spawn_app().await;
    let token = app.token().await;
    let put = |path: &str, body: Value| {
        app.http
            .put(app.url(path))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    problem(
        put("/players/squadnumber/99", player_body(99))
            .await
            .unwrap(),
        404,
    )
    .await;
    problem(
        put("/players/squadnumber/10", player_body(11))
            .await
            .unwrap(),
        400,
    )
    .await;
    problem(
        put("/players/squadnumber/ten", player_body(10))
            .await
            .unwrap(),
        400,
    )
    .await;
    let invalid = put("/players/squadnumber/10", json!({"firstName": "A"}))
        .await
        .unwrap();
    let body = problem(invalid, 422).await;
    assert_eq!(body["errors"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn delete_removes_the_player() {
    let app = spawn_app().await;
    let token = app.token().await;
    let delete = || {
        app.http
            .delete(app.url("/players/squadnumber/23"))
            .bearer_auth(&token)
            .send()
    };
    let response = delete().await.unwrap();
    assert_eq!(response.status(), 204);
    problem(app.get("/players/squadnumber/23").await, 404).await;
    problem(app.get(&format!("/players/{MARTINEZ_ID}")).await, 404).await;
    problem(delete().await.unwrap(), 404).await;
    problem(
        app.http
            .delete(app.url("/players/squadnumber/abc"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
        400,
    )
    .await;
}

#[tokio::test]
async fn seeding_happens_once_and_writes_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("players.db");
    {
        let app = spawn_app_on(&db).await;
        let token = app.token().await;
        let response = app
            .http
            .delete(app.url("/players/squadnumber/1"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204);
        let response = app.create_player(&token, &player_body(40)).await;
        assert_eq!(response.status(), 201);
    }
    let app = spawn_app_on(&db).await;
    let players: Vec<Value> = app.get("/players").await.json().await.unwrap();
    assert_eq!(players.len(), 26);
    assert_eq!(
        players[0]["squadNumber"], 2,
        "a deleted seed player is not seeded again"
    );
    assert_eq!(players[25]["squadNumber"], 40);
}

#[tokio::test]
async fn unknown_paths_are_404_and_wrong_methods_405_with_allow() {
    let app = spawn_app().await;
    problem(app.get("/nope").await, 404).await;
    let response = app
        .http
        .patch(app.url("/players/squadnumber/10"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        header(response.headers(), "allow"),
        Some("GET, HEAD, PUT, DELETE")
    );
    problem(response, 405).await;
    let response = app.http.delete(app.url("/players")).send().await.unwrap();
    assert_eq!(header(response.headers(), "allow"), Some("GET, HEAD, POST"));
    problem(response, 405).await;
}

#[tokio::test]
async fn health_is_ok() {
    let app = spawn_app().await;
    let response = app.get("/health").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"status": "ok"}));
}
