//! Room names.

use std::borrow::Cow;

use smallvec::SmallVec;

use crate::Sid;

/// A room name.
pub type Room = Cow<'static, str>;

/// Values that name one room or several.
///
/// # Examples
/// ```
/// use sockeye_core::IntoRooms;
/// assert_eq!("a".into_rooms().len(), 1);
/// assert_eq!(["a", "b"].into_rooms().len(), 2);
/// assert_eq!(vec![String::from("c")].into_rooms().len(), 1);
/// ```
pub trait IntoRooms {
    /// The rooms.
    fn into_rooms(self) -> SmallVec<[Room; 2]>;
}

impl IntoRooms for &'static str {
    fn into_rooms(self) -> SmallVec<[Room; 2]> {
        smallvec::smallvec![Cow::Borrowed(self)]
    }
}
impl IntoRooms for String {
    fn into_rooms(self) -> SmallVec<[Room; 2]> {
        smallvec::smallvec![Cow::Owned(self)]
    }
}
impl IntoRooms for Room {
    fn into_rooms(self) -> SmallVec<[Room; 2]> {
        smallvec::smallvec![self]
    }
}
impl IntoRooms for Sid {
    fn into_rooms(self) -> SmallVec<[Room; 2]> {
        smallvec::smallvec![Cow::Owned(self.to_string())]
    }
}
impl<T: IntoRooms> IntoRooms for Vec<T> {
    fn into_rooms(self) -> SmallVec<[Room; 2]> {
        self.into_iter().flat_map(IntoRooms::into_rooms).collect()
    }
}
impl<T: IntoRooms, const N: usize> IntoRooms for [T; N] {
    fn into_rooms(self) -> SmallVec<[Room; 2]> {
        self.into_iter().flat_map(IntoRooms::into_rooms).collect()
    }
}
