//! The four stems and their order: masks, stem frames, mixer gains, output buses, files and
//! the model's outputs all use [`Stem::ALL`]'s order.

/// Number of stems.
pub const N_STEMS: usize = 4;

/// One stem. The discriminant is its index in every per-stem array.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(usize)]
pub enum Stem {
    /// Lead and backing vocals.
    Vocals = 0,
    /// Drums and percussion.
    Drums = 1,
    /// Bass.
    Bass = 2,
    /// Everything else; also takes the masks' rounding residue and any bins no model covers.
    Other = 3,
}

impl Stem {
    /// Every stem, in index order.
    pub const ALL: [Stem; N_STEMS] = [Stem::Vocals, Stem::Drums, Stem::Bass, Stem::Other];

    /// Index into per-stem arrays.
    #[inline]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Lower-case name: stem file names, model metadata, CLI options and reports.
    pub const fn name(self) -> &'static str {
        match self {
            Stem::Vocals => "vocals",
            Stem::Drums => "drums",
            Stem::Bass => "bass",
            Stem::Other => "other",
        }
    }

    /// Capitalised name: the editor's strips and the hosts' port and parameter groups.
    pub const fn label(self) -> &'static str {
        match self {
            Stem::Vocals => "Vocals",
            Stem::Drums => "Drums",
            Stem::Bass => "Bass",
            Stem::Other => "Other",
        }
    }

    /// The stem named `name` (any case), if there is one.
    pub fn from_name(name: &str) -> Option<Stem> {
        Stem::ALL.into_iter().find(|s| s.name().eq_ignore_ascii_case(name))
    }
}

/// [`Stem::name`] of every stem, in index order.
pub const STEM_NAMES: [&str; N_STEMS] = stem_strings(false);

/// [`Stem::label`] of every stem, in index order.
pub const STEM_LABELS: [&str; N_STEMS] = stem_strings(true);

/// Every stem's [`Stem::label`] (`capitalised`) or [`Stem::name`], in index order (a const
/// context cannot call through a function pointer, hence the flag).
const fn stem_strings(capitalised: bool) -> [&'static str; N_STEMS] {
    let mut out = [""; N_STEMS];
    let mut i = 0;
    while i < N_STEMS {
        out[i] = if capitalised { Stem::ALL[i].label() } else { Stem::ALL[i].name() };
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_follow_the_order_of_all() {
        for (i, s) in Stem::ALL.into_iter().enumerate() {
            assert_eq!(s.index(), i);
            assert_eq!(Stem::from_name(&s.label().to_uppercase()), Some(s));
        }
        assert_eq!(STEM_NAMES, ["vocals", "drums", "bass", "other"]);
        assert_eq!(STEM_LABELS, ["Vocals", "Drums", "Bass", "Other"]);
        assert_eq!(Stem::from_name("guitar"), None);
    }
}
