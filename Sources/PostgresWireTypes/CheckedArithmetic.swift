/// Arithmetic on numbers that came from the server (or any other input): nil instead of an
/// overflow trap, so a hostile or corrupt value becomes a decoding error, never a crash.
extension FixedWidthInteger {
    @inline(__always)
    package func checkedAdding(_ other: Self) -> Self? {
        let (result, overflow) = addingReportingOverflow(other)
        return overflow ? nil : result
    }

    @inline(__always)
    package func checkedSubtracting(_ other: Self) -> Self? {
        let (result, overflow) = subtractingReportingOverflow(other)
        return overflow ? nil : result
    }

    @inline(__always)
    package func checkedMultiplied(by other: Self) -> Self? {
        let (result, overflow) = multipliedReportingOverflow(by: other)
        return overflow ? nil : result
    }

    /// `-self`, nil for `Self.min` of a signed type.
    @inline(__always)
    package func checkedNegated() -> Self? {
        Self.zero.checkedSubtracting(self)
    }

    /// A run of ASCII digits (no sign, no spaces, not empty) as a non-negative number; nil when
    /// the text is anything else (non-ASCII digits such as '٣' included) or does not fit.
    static func asciiDigits<S: StringProtocol>(_ text: S) -> Self? {
        var value: Self = 0
        var any = false
        for byte in text.utf8 {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"),
                  let shifted = value.checkedMultiplied(by: 10),
                  let next = shifted.checkedAdding(Self(byte &- UInt8(ascii: "0"))) else { return nil }
            value = next
            any = true
        }
        return any ? value : nil
    }
}

extension Character {
    /// '0'…'9' only (Character.isNumber also accepts '٣', '½', 'Ⅻ'…, which Int() then rejects).
    var isASCIIDigit: Bool {
        guard let a = asciiValue else { return false }
        return a >= UInt8(ascii: "0") && a <= UInt8(ascii: "9")
    }
}
