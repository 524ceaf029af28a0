package fulgur.nn;

/** How a model makes its linear maps (its initialisation): shared layers take one instead of knowing the model's scheme. */
@FunctionalInterface
public interface LinearInit {
    Linear linear(int in, int out, boolean bias);
}
