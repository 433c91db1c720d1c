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

impl crate::OrderBody {
    /// The name the certificate's subject will carry, for file names, records and matching:
    /// the seed body's `common_name`; for a Secure Email body the person's given name and
    /// surname or pseudonym when `common_name_indicator` says so; otherwise (and for a
    /// `class1_smime` body, which takes no common name) the first email address.
    pub fn subject_name(&self) -> String {
        use crate::CommonNameIndicator as Cn;
        let first_email = || self.emails().first().cloned().unwrap_or_default();
        match self {
            Self::ClientCertificate(order) => match &order.certificate.common_name {
                Some(name) => name.as_str().to_owned(),
                None => first_email(),
            },
            Self::SecureEmail(order) => {
                let person = order.certificate.individual.as_ref();
                let name = match order.certificate.common_name_indicator {
                    Some(Cn::GivenNameSurname) => person.and_then(|p| {
                        Some(format!(
                            "{} {}",
                            p.first_name.as_ref()?.as_str(),
                            p.last_name.as_ref()?.as_str()
                        ))
                    }),
                    Some(Cn::Pseudonym) => {
                        person.and_then(|p| p.pseudonym.as_ref().map(|n| n.as_str().to_owned()))
                    }
                    _ => None,
                };
                name.unwrap_or_else(first_email)
            }
        }
    }
}
