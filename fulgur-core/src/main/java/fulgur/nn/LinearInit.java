package fulgur.nn;

/** How a model makes its linear maps (its initialisation): shared layers take one instead of knowing the model's scheme. */
@FunctionalInterface
public interface LinearInit {
    /**
     * A linear map with this scheme's initial weights.
     *
     * @param in input features
     * @param out output features
     * @param bias whether it has a bias
     * @return the layer
     */
    Linear linear(int in, int out, boolean bias);
}
