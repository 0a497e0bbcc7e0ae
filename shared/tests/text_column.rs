//! `shared::text_column!` on both backends, through the one connection type the services use: a
//! value and a NULL round-trip, a filter compares by name, and a name the code does not know fails
//! the read, saying which.

#![allow(clippy::unwrap_used, reason = "test code: a failed unwrap is a failed test")]

use std::str::FromStr;

use diesel::prelude::*;
use shared::db::{DbConn, SessionSettings};
use shared::testing::TestDatabase;

#[derive(Debug, Clone, Copy, PartialEq, Eq, diesel::AsExpression, diesel::FromSqlRow)]
#[diesel(sql_type = diesel::sql_types::Text)]
enum Colour {
    Red,
    LightBlue,
}

impl Colour {
    fn as_str(self) -> &'static str {
        match self {
            Colour::Red => "red",
            Colour::LightBlue => "light_blue",
        }
    }
}

impl FromStr for Colour {
    type Err = ();

    fn from_str(value: &str) -> Result<Self, ()> {
        match value {
            "red" => Ok(Colour::Red),
            "light_blue" => Ok(Colour::LightBlue),
            _ => Err(()),
        }
    }
}

shared::text_column!(Colour);

diesel::table! {
    paints (id) {
        id -> Integer,
        colour -> Text,
        trim -> Nullable<Text>,
    }
}

#[derive(Debug, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = paints, treat_none_as_null = true)]
struct Paint {
    id: i32,
    colour: Colour,
    trim: Option<Colour>,
}

fn exercise(conn: &mut DbConn) {
    diesel::sql_query("CREATE TABLE paints (id INTEGER PRIMARY KEY, colour TEXT NOT NULL, trim TEXT)")
        .execute(conn)
        .unwrap();
    let paints = [
        Paint {
            id: 1,
            colour: Colour::LightBlue,
            trim: None,
        },
        Paint {
            id: 2,
            colour: Colour::Red,
            trim: Some(Colour::LightBlue),
        },
    ];
    // One row at a time: a multi-row INSERT is not portable through the two-backend connection.
    for paint in &paints {
        diesel::insert_into(paints::table)
            .values(paint)
            .execute(conn)
            .unwrap();
    }

    let stored: Vec<String> = paints::table
        .select(paints::colour)
        .order(paints::id)
        .load(conn)
        .unwrap();
    assert_eq!(stored, ["light_blue", "red"], "the column holds the name");
    let read: Vec<Paint> = paints::table
        .select(Paint::as_select())
        .order(paints::id)
        .load(conn)
        .unwrap();
    assert_eq!(read, paints);
    let red: Vec<i32> = paints::table
        .filter(paints::colour.eq(Colour::Red))
        .select(paints::id)
        .load(conn)
        .unwrap();
    assert_eq!(red, [2]);

    diesel::sql_query("INSERT INTO paints (id, colour) VALUES (3, 'mauve')")
        .execute(conn)
        .unwrap();
    let error = paints::table
        .find(3)
        .select(Paint::as_select())
        .first(conn)
        .unwrap_err();
    assert!(
        matches!(error, diesel::result::Error::DeserializationError(_)),
        "{error:?}"
    );
    // diesel's Display names the field; the cause (our message) is in the chain.
    let message = format!("{error:?}");
    assert!(
        message.contains("mauve") && message.contains("not a Colour this version knows"),
        "{message}"
    );
}

#[test]
fn an_enum_in_a_text_column_round_trips_on_postgresql() {
    let database = TestDatabase::create();
    exercise(&mut database.connect());
}

#[test]
fn an_enum_in_a_text_column_round_trips_on_sqlite() {
    let directory = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/paints.db", directory.path().display());
    let mut conn = shared::db::connect(
        &url,
        &SessionSettings {
            statement_timeout_ms: 1000,
        },
    )
    .unwrap();
    exercise(&mut conn);
}
