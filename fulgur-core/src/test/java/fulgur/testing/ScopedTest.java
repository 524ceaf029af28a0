package fulgur.testing;

import fulgur.tensor.Scope;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;

/** Base of tests that allocate tensors: each test runs in its own scope, freed when it ends. */
public abstract class ScopedTest {
    private Scope testScope;

    @BeforeEach
    void openTestScope() {
        testScope = Scope.open("test");
    }

    @AfterEach
    void closeTestScope() {
        testScope.close();
    }
}
