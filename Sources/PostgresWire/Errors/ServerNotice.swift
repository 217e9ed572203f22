/// A NoticeResponse has the same fields as an ErrorResponse.
typealias ServerNotice = ServerError
