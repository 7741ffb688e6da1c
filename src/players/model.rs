//! Player types: what clients send, what is stored, what is returned.
//!
//! | type | role |
//! |---|---|
//! | [`PlayerRequest`] | the documented request schema (the body is parsed by [`NewPlayer::parse`]) |
//! | [`NewPlayer`] | a validated request: every field already within its rules |
//! | [`Player`] | a stored player, as returned (camelCase JSON) |
//! | [`SquadNumber`] | 1–99, unique in the squad |

use chrono::{Datelike, NaiveDate};
use poem_openapi::{Object, types::Example};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::FieldError;

/// The longest text accepted in a name, position, team or league.
pub const MAX_TEXT_CHARS: usize = 100;
pub const MIN_SQUAD_NUMBER: i64 = 1;
pub const MAX_SQUAD_NUMBER: i64 = 99;

/// A squad number between 1 and 99.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SquadNumber(u8);

impl SquadNumber {
    pub fn new(value: i64) -> Option<Self> {
        (MIN_SQUAD_NUMBER..=MAX_SQUAD_NUMBER)
            .contains(&value)
            .then_some(SquadNumber(value as u8))
    }

    pub fn get(self) -> i64 {
        i64::from(self.0)
    }
}

/// A player as stored and returned.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(rename_all = "camelCase")]
pub struct Player {
    pub id: Uuid,
    pub first_name: String,
    #[oai(skip_serializing_if_is_none)]
    pub middle_name: Option<String>,
    pub last_name: String,
    #[oai(skip_serializing_if_is_none)]
    pub date_of_birth: Option<NaiveDate>,
    #[oai(validator(minimum(value = "1"), maximum(value = "99")))]
    pub squad_number: i64,
    pub position: String,
    #[oai(skip_serializing_if_is_none)]
    pub abbr_position: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub team: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub league: Option<String>,
    pub starting11: bool,
}

/// A player to create or to replace an existing one with. `id` and unknown fields are
/// ignored. Text holds no control characters (U+0000–U+001F).
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct PlayerRequest {
    #[oai(validator(min_length = 1, max_length = 100, pattern = r"^[^\u0000-\u001F]*$"))]
    pub first_name: String,
    #[oai(
        validator(max_length = 100, pattern = r"^[^\u0000-\u001F]*$"),
        skip_serializing_if_is_none
    )]
    pub middle_name: Option<String>,
    #[oai(validator(min_length = 1, max_length = 100, pattern = r"^[^\u0000-\u001F]*$"))]
    pub last_name: String,
    /// `YYYY-MM-DD`
    #[oai(skip_serializing_if_is_none)]
    pub date_of_birth: Option<NaiveDate>,
    #[oai(validator(minimum(value = "1"), maximum(value = "99")))]
    pub squad_number: i64,
    #[oai(validator(min_length = 1, max_length = 100, pattern = r"^[^\u0000-\u001F]*$"))]
    pub position: String,
    #[oai(
        validator(max_length = 100, pattern = r"^[^\u0000-\u001F]*$"),
        skip_serializing_if_is_none
    )]
    pub abbr_position: Option<String>,
    #[oai(
        validator(max_length = 100, pattern = r"^[^\u0000-\u001F]*$"),
        skip_serializing_if_is_none
    )]
    pub team: Option<String>,
    #[oai(
        validator(max_length = 100, pattern = r"^[^\u0000-\u001F]*$"),
        skip_serializing_if_is_none
    )]
    pub league: Option<String>,
    /// Defaults to `false`.
    #[oai(skip_serializing_if_is_none)]
    pub starting11: Option<bool>,
}

impl Example for PlayerRequest {
    fn example() -> Self {
        PlayerRequest {
            first_name: "Valentín".into(),
            middle_name: None,
            last_name: "Carboni".into(),
            date_of_birth: NaiveDate::from_ymd_opt(2005, 3, 5),
            squad_number: 27,
            position: "Attacking Midfield".into(),
            abbr_position: Some("AM".into()),
            team: Some("Racing Club".into()),
            league: Some("Liga Profesional".into()),
            starting11: Some(false),
        }
    }
}

/// A validated player request.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPlayer {
    pub first_name: String,
    pub middle_name: Option<String>,
    pub last_name: String,
    pub date_of_birth: Option<NaiveDate>,
    pub squad_number: SquadNumber,
    pub position: String,
    pub abbr_position: Option<String>,
    pub team: Option<String>,
    pub league: Option<String>,
    pub starting11: bool,
}

impl NewPlayer {
    /// Parses a JSON body, collecting every invalid field rather than stopping at the
    /// first, so a client can fix its request in one go.
    pub fn parse(body: &Value) -> Result<NewPlayer, Vec<FieldError>> {
        let Some(object) = body.as_object() else {
            return Err(vec![FieldError {
                pointer: String::new(),
                detail: "must be a JSON object".into(),
            }]);
        };
        let mut fields = Fields {
            object,
            errors: Vec::new(),
        };
        let first_name = fields.text("firstName", true);
        let middle_name = fields.text("middleName", false);
        let last_name = fields.text("lastName", true);
        let date_of_birth = fields.date("dateOfBirth");
        let squad_number = fields.squad_number("squadNumber");
        let position = fields.text("position", true);
        let abbr_position = fields.text("abbrPosition", false);
        let team = fields.text("team", false);
        let league = fields.text("league", false);
        let starting11 = fields.boolean("starting11");
        match (first_name, last_name, squad_number, position) {
            (Some(first_name), Some(last_name), Some(squad_number), Some(position))
                if fields.errors.is_empty() =>
            {
                Ok(NewPlayer {
                    first_name,
                    middle_name,
                    last_name,
                    date_of_birth,
                    squad_number,
                    position,
                    abbr_position,
                    team,
                    league,
                    starting11: starting11.unwrap_or(false),
                })
            }
            _ => Err(fields.errors),
        }
    }
}

struct Fields<'a> {
    object: &'a Map<String, Value>,
    errors: Vec<FieldError>,
}

impl Fields<'_> {
    fn error(&mut self, name: &str, detail: impl Into<String>) {
        self.errors.push(FieldError {
            pointer: format!("/{name}"),
            detail: detail.into(),
        });
    }

    /// The field's value; a missing or `null` field is an error only when required.
    fn value(&mut self, name: &str, required: bool) -> Option<&Value> {
        let object = self.object;
        match object.get(name) {
            None | Some(Value::Null) => {
                if required {
                    self.error(name, "is required");
                }
                None
            }
            Some(value) => Some(value),
        }
    }

    fn text(&mut self, name: &str, required: bool) -> Option<String> {
        let value = self.value(name, required)?;
        let Some(text) = value.as_str() else {
            self.error(name, "must be a string");
            return None;
        };
        let chars = text.chars().count();
        if text.chars().any(|c| c < '\u{20}') {
            // C0 controls (NUL, newline, ESC...) break terminals, logs and C strings of
            // every reader; no name, position, team or league has one.
            self.error(name, "must not contain control characters");
            None
        } else if required && chars == 0 {
            self.error(name, "must not be empty");
            None
        } else if chars > MAX_TEXT_CHARS {
            self.error(name, format!("must be at most {MAX_TEXT_CHARS} characters"));
            None
        } else {
            Some(text.to_owned())
        }
    }

    fn date(&mut self, name: &str) -> Option<NaiveDate> {
        let value = self.value(name, false)?;
        let parsed = value.as_str().and_then(|s| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                // chrono accepts `2000-1-5`; only the canonical form is taken.
                .filter(|d| d.format("%Y-%m-%d").to_string() == s)
                // Years 0, -1 or 10000 parse here but break the date parsers of the
                // clients that read them back (Python's `date.fromisoformat`...).
                .filter(|d| (1..=9999).contains(&d.year()))
        });
        if parsed.is_none() {
            self.error(
                name,
                "must be a date in the form YYYY-MM-DD, from 0001-01-01 to 9999-12-31",
            );
        }
        parsed
    }

    fn squad_number(&mut self, name: &str) -> Option<SquadNumber> {
        let value = self.value(name, true)?;
        let Some(number) = value.as_i64() else {
            self.error(name, "must be an integer");
            return None;
        };
        let squad = SquadNumber::new(number);
        if squad.is_none() {
            self.error(
                name,
                format!("must be between {MIN_SQUAD_NUMBER} and {MAX_SQUAD_NUMBER}"),
            );
        }
        squad
    }

    fn boolean(&mut self, name: &str) -> Option<bool> {
        let value = self.value(name, false)?;
        let b = value.as_bool();
        if b.is_none() {
            self.error(name, "must be true or false");
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn valid() -> Value {
        json!({
            "firstName": "Lionel", "middleName": "Andrés", "lastName": "Messi",
            "dateOfBirth": "1987-06-24", "squadNumber": 10, "position": "Right Winger",
            "abbrPosition": "RW", "team": "Inter Miami CF", "league": "Major League Soccer",
            "starting11": true
        })
    }

    #[test]
    fn a_valid_body_parses() {
        let p = NewPlayer::parse(&valid()).unwrap();
        assert_eq!(p.squad_number.get(), 10);
        assert_eq!(p.date_of_birth, NaiveDate::from_ymd_opt(1987, 6, 24));
        assert!(p.starting11);
    }

    #[test]
    fn optional_fields_may_be_missing_or_null() {
        let p = NewPlayer::parse(&json!({
            "firstName": "A", "lastName": "B", "squadNumber": 99, "position": "P",
            "middleName": null
        }))
        .unwrap();
        assert_eq!(p.middle_name, None);
        assert!(!p.starting11);
    }

    #[test]
    fn every_invalid_field_is_reported() {
        let errors = NewPlayer::parse(&json!({
            "firstName": 1, "lastName": "", "squadNumber": 100, "dateOfBirth": "1987-6-24",
            "starting11": "yes"
        }))
        .unwrap_err();
        let pointers: Vec<&str> = errors.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            [
                "/firstName",
                "/lastName",
                "/dateOfBirth",
                "/squadNumber",
                "/position",
                "/starting11"
            ]
        );
    }

    #[test]
    fn squad_number_must_be_an_integer_in_range() {
        for bad in [json!(0), json!(100), json!(10.5), json!("10"), json!(-1)] {
            let mut body = valid();
            body["squadNumber"] = bad;
            assert_eq!(
                NewPlayer::parse(&body).unwrap_err()[0].pointer,
                "/squadNumber"
            );
        }
    }

    #[test]
    fn dates_outside_years_1_to_9999_are_refused() {
        for bad in ["0000-01-01", "-0001-01-01", "+10000-01-01", "10000-01-01"] {
            let mut body = valid();
            body["dateOfBirth"] = json!(bad);
            assert_eq!(
                NewPlayer::parse(&body).unwrap_err()[0].pointer,
                "/dateOfBirth",
                "{bad}"
            );
        }
        for good in ["0001-01-01", "9999-12-31"] {
            let mut body = valid();
            body["dateOfBirth"] = json!(good);
            assert!(NewPlayer::parse(&body).is_ok(), "{good}");
        }
    }

    #[test]
    fn text_with_c0_control_characters_is_refused() {
        for bad in ["Lio\u{0}nel", "Lio\nnel", "\u{1b}[31m", "tab\there"] {
            let mut body = valid();
            body["team"] = json!(bad);
            let errors = NewPlayer::parse(&body).unwrap_err();
            assert_eq!(errors[0].pointer, "/team");
            assert_eq!(errors[0].detail, "must not contain control characters");
        }
        let mut body = valid();
        body["team"] = json!("Inter Miami CF \u{e9}\u{1f600}");
        assert!(NewPlayer::parse(&body).is_ok());
    }

    #[test]
    fn non_object_is_reported_at_the_root() {
        assert_eq!(NewPlayer::parse(&json!([1])).unwrap_err()[0].pointer, "");
    }
}
