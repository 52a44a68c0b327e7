//! [`string_type!`]: the one way to declare a validated string type of this module.

/// Declares a string type whose values all passed its rule, with the impls every such
/// type has: serde through the rule, and an inline JSON schema named after the type.
/// The rule itself (`parse`, its constants, anything else) is written beside it in an
/// `impl` block of its own.
///
/// Text, held as a `String` (also `TryFrom<String>`, `Into<String>` and `as_str`):
///
/// ```ignore
/// string_type! {
///     /// What the type holds.
///     pub struct Region(String);
///     /// The region code as text.
///     fn as_str;
///     schema: { "type": "string", "pattern": Self::PATTERN }
/// }
/// ```
///
/// A secret, held as the caller declares it (its `Debug` written by hand, to print
/// nothing of it): read through `parsed by`, and written as the text `serialized by`
/// returns, which only request bodies carry.
///
/// ```ignore
/// string_type! {
///     /// What the type holds.
///     #[derive(Clone)]
///     pub struct Password(SecretString);
///     parsed by given;
///     serialized by expose;
///     schema: { "type": "string", "format": "password", "writeOnly": true }
/// }
/// ```
macro_rules! string_type {
    (
        $(#[$meta:meta])*
        pub struct $name:ident(String);
        $(#[$as_str_meta:meta])*
        fn as_str;
        schema: $schema:tt
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(::std::string::String);

        impl $name {
            $(#[$as_str_meta])*
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl ::std::convert::TryFrom<::std::string::String> for $name {
            type Error = $crate::domain::InvalidValue;

            fn try_from(value: ::std::string::String) -> ::std::result::Result<Self, Self::Error> {
                Self::parse(value)
            }
        }

        impl ::std::convert::From<$name> for ::std::string::String {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        string_type!(@schema $name, $schema);
    };
    (
        $(#[$meta:meta])*
        pub struct $name:ident($inner:ty);
        parsed by $parse:ident;
        serialized by $expose:ident;
        schema: $schema:tt
    ) => {
        $(#[$meta])*
        pub struct $name($inner);

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(
                deserializer: D,
            ) -> ::std::result::Result<Self, D::Error> {
                let value: ::std::string::String = ::serde::Deserialize::deserialize(deserializer)?;
                Self::$parse(value).map_err(<D::Error as ::serde::de::Error>::custom)
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(
                &self,
                serializer: S,
            ) -> ::std::result::Result<S::Ok, S::Error> {
                serializer.serialize_str(self.$expose())
            }
        }

        string_type!(@schema $name, $schema);
    };
    (@schema $name:ident, $schema:tt) => {
        impl ::schemars::JsonSchema for $name {
            fn schema_name() -> ::std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn inline_schema() -> bool {
                true
            }

            fn json_schema(_: &mut ::schemars::SchemaGenerator) -> ::schemars::Schema {
                ::schemars::json_schema!($schema)
            }
        }
    };
}
