import Fluent
import Vapor

struct ListInput: Content, Validatable {
    var title: String
    /// Todos created with the list, in the same transaction.
    var todos: [String]?

    static func validations(_ v: inout Validations) {
        v.add("title", as: String.self, is: !.empty && .count(...100))
        v.add("todos", as: [String].self, is: .count(...50), required: false)
    }
}

struct TodoInput: Content, Validatable {
    var title: String
    var done: Bool?

    static func validations(_ v: inout Validations) {
        v.add("title", as: String.self, is: !.empty && .count(...200))
    }
}

struct TodoPatch: Content, Validatable {
    var title: String?
    var done: Bool?

    static func validations(_ v: inout Validations) {
        v.add("title", as: String?.self, is: .nil || (!.empty && .count(...200)), required: false)
    }
}

struct ListOutput: Content {
    var id: UUID
    var title: String
    var todos: [TodoOutput]
}

struct TodoOutput: Content {
    var id: UUID
    var title: String
    var done: Bool
    var listID: UUID
}

extension Todo {
    func output() throws -> TodoOutput {
        TodoOutput(id: try requireID(), title: title, done: done, listID: $list.id)
    }
}

extension TodoList {
    func output() throws -> ListOutput {
        ListOutput(id: try requireID(), title: title, todos: try ($todos.value ?? []).map { try $0.output() })
    }
}

func routes(_ app: Application) throws {
    let lists = app.grouped("lists")

    // GET /lists: every list with its todos (eager-loaded).
    lists.get { req async throws -> [ListOutput] in
        try await TodoList.query(on: req.db).with(\.$todos).sort(\.$title).all().map { try $0.output() }
    }

    // POST /lists {"title": …, "todos": […]}: the list and its todos in one transaction.
    lists.post { req async throws -> Response in
        try ListInput.validate(content: req)
        let input = try req.content.decode(ListInput.self)
        let list = try await req.db.transaction { db in
            let list = TodoList(title: input.title)
            try await list.create(on: db)
            for title in input.todos ?? [] {
                guard !title.isEmpty else { throw Abort(.badRequest, reason: "todo titles must not be empty") }
                try await Todo(title: title, listID: try list.requireID()).create(on: db)
            }
            try await list.$todos.load(on: db)
            return list
        }
        return try await list.output().encodeResponse(status: .created, for: req)
    }

    // DELETE /lists/:id (its todos go with it: ON DELETE CASCADE).
    lists.delete(":listID") { req async throws -> HTTPStatus in
        guard let list = try await TodoList.find(req.parameters.get("listID"), on: req.db) else { throw Abort(.notFound) }
        try await list.delete(on: req.db)
        return .noContent
    }

    // POST /lists/:id/todos {"title": …}
    lists.post(":listID", "todos") { req async throws -> Response in
        try TodoInput.validate(content: req)
        let input = try req.content.decode(TodoInput.self)
        guard let list = try await TodoList.find(req.parameters.get("listID"), on: req.db) else { throw Abort(.notFound) }
        let todo = Todo(title: input.title, done: input.done ?? false, listID: try list.requireID())
        try await todo.create(on: req.db)
        return try await todo.output().encodeResponse(status: .created, for: req)
    }

    let todos = app.grouped("todos")

    // PATCH /todos/:id {"title"?: …, "done"?: …}
    todos.patch(":todoID") { req async throws -> TodoOutput in
        try TodoPatch.validate(content: req)
        let patch = try req.content.decode(TodoPatch.self)
        guard let todo = try await Todo.find(req.parameters.get("todoID"), on: req.db) else { throw Abort(.notFound) }
        if let title = patch.title { todo.title = title }
        if let done = patch.done { todo.done = done }
        try await todo.update(on: req.db)
        return try todo.output()
    }

    // DELETE /todos/:id
    todos.delete(":todoID") { req async throws -> HTTPStatus in
        guard let todo = try await Todo.find(req.parameters.get("todoID"), on: req.db) else { throw Abort(.notFound) }
        try await todo.delete(on: req.db)
        return .noContent
    }
}
