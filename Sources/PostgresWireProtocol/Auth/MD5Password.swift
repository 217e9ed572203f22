/// The answer to AuthenticationMD5Password: "md5" + md5(md5(password + user) + salt), in hex.
public enum MD5Password {
    public static func response(user: String, password: String, salt: [UInt8]) -> String {
        let inner = Crypto.hex(Crypto.md5(Array(password.utf8) + Array(user.utf8)))
        return "md5" + Crypto.hex(Crypto.md5(Array(inner.utf8) + salt))
    }
}
