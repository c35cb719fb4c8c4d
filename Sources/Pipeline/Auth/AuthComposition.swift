/// A middleware whose protocol needs some paths open whatever auth its stack has (Terraform's
/// discovery document must never ask for credentials). The auth composition rule lets every gate
/// of the stack pass them, as if they were in the stack's `anonymous` list.
public protocol DeclaresAnonymousPaths {
    /// Exact paths, or prefixes ending in `*` (`PathPatterns`).
    var anonymousPaths: [String] { get }
}

extension AuthGate {
    /// The chain rule that composes auth: each run of adjacent `Authenticator`s becomes one
    /// `AuthGate` (alternatives: any of them may pass a request), with the stack's `anonymous`
    /// paths plus those its members declare (`DeclaresAnonymousPaths`) and the load's URL signer.
    /// Authenticators separated by other middlewares stay separate gates that must each pass,
    /// which is rarely meant: that gets a warning.
    public static let composition = ChainRule(name: "auth composition") { elements, stack, context in
        var anonymous = stack.anonymous
        for member in stack.members {
            for path in (member as? any DeclaresAnonymousPaths)?.anonymousPaths ?? [] { anonymous.add(path) }
        }
        var result: [ChainElement] = []
        var run: [any Authenticator] = []
        var runStart: JSONPointer?
        var gates: [JSONPointer] = []
        func flush() {
            guard let start = runStart else { return }
            result.append(ChainElement(AuthGate(authenticators: run, anonymous: anonymous, signer: context.urlSigner), at: start))
            run = []
            runStart = nil
        }
        for element in elements {
            if let authenticator = element.value as? any Authenticator {
                if runStart == nil {
                    runStart = element.pointer
                    gates.append(element.pointer)
                }
                run.append(authenticator)
            } else {
                flush()
                result.append(element)
            }
        }
        flush()
        if !gates.isEmpty, !stack.name.isEmpty, !context.environment.checkOnly { AuthMetrics.shared.declare(stack: stack.name) }
        if gates.count > 1 {
            context.diagnostics.warning(gates[1], "auth middlewares separated by other middlewares are separate checks that must all pass; "
                + "place them next to each other to accept any of them")
        }
        return result
    }
}
