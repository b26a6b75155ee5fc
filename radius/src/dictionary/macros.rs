//! The `dictionary!` macro, which turns the one table in `data.rs` into the constants, the
//! named values and the lookup tables, so that no attribute or value is written twice.

/// Declares the dictionary from one line per attribute.
///
/// The input is the docs of the `values` module, then one block per attribute space (the
/// standard attributes, then each vendor's), in this shape:
///
/// ```text
/// /// Docs of the constants module.
/// pub mod ms (vendor = vendor::MICROSOFT) in MICROSOFT {
///     /// Docs of the constant.
///     7 MPPE_ENCRYPTION_POLICY "MS-MPPE-Encryption-Policy" Enum values ms_mppe_encryption_policy {
///         //! Docs of the values module.
///
///         /// Docs of the value's constant.
///         1 ENCRYPTION_ALLOWED "Encryption-Allowed";
///     };
///     13 BAP_USAGE "MS-BAP-Usage" Enum values { 0 "Not-Allowed"; 1 "Allowed"; };
///     16 MPPE_SEND_KEY "MS-MPPE-Send-Key" Octets, hidden(MsMppeKey);
///     25 CHAP2_RESPONSE "MS-CHAP2-Response" Octets, sensitive;
/// }
/// ```
///
/// An attribute line is its code, its constant, its FreeRADIUS name, its [`ValueType`]
/// variant, then optionally `, hidden(<Encryption variant>)` and `, sensitive` (the const
/// builder methods of [`AttrDef`]), and its named values: `values <module> { … }` gives each
/// value a constant in `values::<module>`, `values { … }` names values without constants.
///
/// It expands to, for each block, `pub mod ms { pub const MPPE_ENCRYPTION_POLICY: u8 = 7; … }`
/// and `static MICROSOFT: [AttrDef; _]` in the order written, with a compile-time check that
/// the order is strictly ascending by code and that every entry is of that vendor; once,
/// `pub mod values` holding every values module, [`TABLES`](super::data::TABLES) and
/// [`table`](super::data::table) over all blocks; and, for the tests,
/// `DECLARED`: every line as written.
///
/// [`ValueType`]: super::ValueType
/// [`AttrDef`]: super::AttrDef
macro_rules! dictionary {
    (
        $(#[$values_meta:meta])*
        pub mod values;

        $(
            $(#[$space_meta:meta])*
            pub mod $space:ident (vendor = $vendor:expr) in $table:ident {
                $(
                    $(#[$meta:meta])*
                    $code:literal $constant:ident $name:literal $ty:ident
                    $(, $flag:ident $(($how:ident))?)*
                    $(values $set:ident {
                        $(#![$set_meta:meta])*
                        $(
                            $(#[$value_meta:meta])*
                            $number:literal $value:ident $value_name:literal;
                        )+
                    })?
                    $(values {
                        $($bare_number:literal $bare_name:literal;)+
                    })?
                    ;
                )+
            }
        )+
    ) => {
        $(
            $(#[$space_meta])*
            pub mod $space {
                $(
                    $(#[$meta])*
                    pub const $constant: u8 = $code;
                )+
            }

            #[doc = concat!("The entries of [`", stringify!($space), "`], in code order.")]
            // An array, not a reference to one: only a static's own memory is sure to be one
            // copy, and the index and `all()` must hand out the same `&AttrDef`.
            pub(super) static $table: [
                $crate::dictionary::AttrDef;
                [$(stringify!($constant)),+].len()
            ] = [
                $(
                    $crate::dictionary::AttrDef::declare(
                        $vendor,
                        $space::$constant,
                        $name,
                        $crate::dictionary::ValueType::$ty,
                        &[
                            $($((values::$set::$value, $value_name),)+)?
                            $($(($bare_number, $bare_name),)+)?
                        ],
                    )
                    $(.$flag($($crate::dictionary::Encryption::$how)?))*,
                )+
            ];

            const _: () = assert!(
                $crate::dictionary::is_vendor_table(&$table, $vendor),
                concat!(
                    stringify!($table),
                    ": codes not strictly ascending, or an entry of another vendor"
                ),
            );
        )+

        $(#[$values_meta])*
        pub mod values {
            $($($(
                pub mod $set {
                    $(#![$set_meta])*
                    $(
                        $(#[$value_meta])*
                        pub const $value: u32 = $number;
                    )+
                }
            )?)+)+
        }

        /// Every table, in the order declared.
        pub(super) static TABLES: &[&[$crate::dictionary::AttrDef]] = &[$(&$table),+];

        /// The table of vendor `id`, 0 for the standard attributes.
        pub(super) fn table(id: u32) -> Option<&'static [$crate::dictionary::AttrDef]> {
            $(
                if id == $vendor {
                    return Some(&$table);
                }
            )+
            None
        }

        /// Every attribute line as written, for the tests to hold the generated items to.
        #[cfg(test)]
        pub(super) static DECLARED: &[$crate::dictionary::macros::Declared] = &[
            $($(
                $crate::dictionary::macros::Declared {
                    module: stringify!($space),
                    constant: stringify!($constant),
                    vendor: $vendor,
                    code: $space::$constant,
                    name: $name,
                    ty: $crate::dictionary::ValueType::$ty,
                    set: $crate::dictionary::macros::first(&[$(stringify!($set))?]),
                    values: &[
                        $($((Some(stringify!($value)), values::$set::$value, $value_name),)+)?
                        $($((None, $bare_number, $bare_name),)+)?
                    ],
                },
            )+)+
        ];
    };
}

pub(super) use dictionary;

/// One attribute line of the `dictionary!` input, as written.
#[cfg(test)]
#[derive(Debug)]
pub(super) struct Declared {
    /// The constants module: `attr`, `ms`, `mikrotik`.
    pub(super) module: &'static str,
    /// The constant's identifier, e.g. `USER_NAME`.
    pub(super) constant: &'static str,
    pub(super) vendor: u32,
    /// The constant's value.
    pub(super) code: u8,
    pub(super) name: &'static str,
    pub(super) ty: super::ValueType,
    /// The module in `values` that holds the named values' constants, if there is one.
    pub(super) set: Option<&'static str>,
    /// Each named value: its constant's identifier (if it has one), its number (the
    /// constant's value if it has one) and its name.
    pub(super) values: &'static [(Option<&'static str>, u32, &'static str)],
}

#[cfg(test)]
pub(super) const fn first(names: &[&'static str]) -> Option<&'static str> {
    match names {
        [name, ..] => Some(*name),
        [] => None,
    }
}
