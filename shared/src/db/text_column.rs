//! [`text_column!`]: a Rust value that names one of a closed set stored in a TEXT column by that
//! name, on either backend. The column stays TEXT (no database enum type, so a new value needs no
//! migration); the row struct holds the type, so a misspelt value cannot be written, and one the
//! code does not know fails the read with its name instead of travelling on as a string.

/// Implements diesel's `FromSql` and `ToSql` for `Text` on a type with `as_str()` and `FromStr`,
/// for every backend (PostgreSQL, SQLite and the [`MultiBackend`](super::MultiBackend) of
/// [`DbConn`](super::DbConn)). The type also derives `diesel::AsExpression` and
/// `diesel::FromSqlRow` with `#[diesel(sql_type = diesel::sql_types::Text)]`; `Option<T>` then maps
/// a nullable column.
///
/// ```ignore
/// #[derive(Debug, Clone, Copy, diesel::AsExpression, diesel::FromSqlRow)]
/// #[diesel(sql_type = diesel::sql_types::Text)]
/// pub enum Status { Sent, Failed }
/// // with `fn as_str(&self) -> &str` and `impl FromStr for Status`
/// shared::text_column!(Status);
/// ```
#[macro_export]
macro_rules! text_column {
    ($type:ty) => {
        impl<DB> ::diesel::deserialize::FromSql<::diesel::sql_types::Text, DB> for $type
        where
            DB: ::diesel::backend::Backend,
            String: ::diesel::deserialize::FromSql<::diesel::sql_types::Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> ::diesel::deserialize::Result<Self> {
                let text =
                    <String as ::diesel::deserialize::FromSql<::diesel::sql_types::Text, DB>>::from_sql(
                        bytes,
                    )?;
                text.parse::<$type>()
                    .map_err(|_| format!("{text:?} is not a {} this version knows", stringify!($type)).into())
            }
        }

        impl<DB> ::diesel::serialize::ToSql<::diesel::sql_types::Text, DB> for $type
        where
            DB: ::diesel::backend::Backend,
            str: ::diesel::serialize::ToSql<::diesel::sql_types::Text, DB>,
        {
            fn to_sql<'b>(
                &'b self,
                out: &mut ::diesel::serialize::Output<'b, '_, DB>,
            ) -> ::diesel::serialize::Result {
                <str as ::diesel::serialize::ToSql<::diesel::sql_types::Text, DB>>::to_sql(self.as_str(), out)
            }
        }
    };
}
