import Fluent
import Foundation

/// A named list of todos; titles are unique.
public final class TodoList: Model, @unchecked Sendable {
    public static let schema = "todo_lists"

    @ID(key: .id) public var id: UUID?
    @Field(key: "title") public var title: String
    @Children(for: \.$list) public var todos: [Todo]
    @Timestamp(key: "created_at", on: .create) public var createdAt: Date?

    public init() {}
    public init(id: UUID? = nil, title: String) {
        self.id = id
        self.title = title
    }
}

/// One item of a list.
public final class Todo: Model, @unchecked Sendable {
    public static let schema = "todos"

    @ID(key: .id) public var id: UUID?
    @Field(key: "title") public var title: String
    @Field(key: "done") public var done: Bool
    @Parent(key: "list_id") public var list: TodoList

    public init() {}
    public init(id: UUID? = nil, title: String, done: Bool = false, listID: TodoList.IDValue) {
        self.id = id
        self.title = title
        self.done = done
        self.$list.id = listID
    }
}

struct CreateTodoList: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(TodoList.schema)
            .id()
            .field("title", .string, .required)
            .field("created_at", .datetime)
            .unique(on: "title")
            .create()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(TodoList.schema).delete()
    }
}

struct CreateTodo: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(Todo.schema)
            .id()
            .field("title", .string, .required)
            .field("done", .bool, .required, .sql(.default(false)))
            .field("list_id", .uuid, .required, .references(TodoList.schema, "id", onDelete: .cascade))
            .create()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(Todo.schema).delete()
    }
}
