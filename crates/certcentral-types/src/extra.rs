//! Hand-written additions to the generated types.

/// A closed enum of wire values generated from the schema (`PaymentMethod`, `SignatureHash`,
/// `DownloadFormat`, `ProductId`, …): every value is known, so a command line can offer
/// exactly these and an error can list them.
///
/// ```
/// use certcentral_types::{PaymentMethod, WireEnum};
///
/// let values: Vec<&str> = PaymentMethod::ALL.iter().map(|m| m.as_str()).collect();
/// assert!(values.contains(&"card"));
/// assert!(PaymentMethod::allowed().contains("card, profile"));
/// assert_eq!(PaymentMethod::from_wire("card"), Some(PaymentMethod::Card));
/// assert_eq!(PaymentMethod::from_wire("cash"), None);
/// ```
pub trait WireEnum: Copy + Sized + 'static {
    /// Every value, in schema order.
    const ALL: &'static [Self];

    /// The wire value.
    fn as_str(self) -> &'static str;

    /// The value whose wire form is `text`, if any.
    fn from_wire(text: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.as_str() == text)
    }

    /// Every wire value, comma-separated, for messages (`balance, card, profile`).
    fn allowed() -> String {
        Self::ALL
            .iter()
            .map(|v| v.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}
