package fulgur.avvp;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** The event classes of an AVVP task, in model output order, with name lookup. */
public final class AvvpClasses {

    /** The 25 classes of LLP (Look, Listen and Parse) in the order of the benchmark's code. */
    public static final List<String> LLP = List.of(
            "Speech",
            "Car",
            "Cheering",
            "Dog",
            "Cat",
            "Frying_(food)",
            "Basketball_bounce",
            "Fire_alarm",
            "Chainsaw",
            "Cello",
            "Banjo",
            "Singing",
            "Chicken_rooster",
            "Violin_fiddle",
            "Vacuum_cleaner",
            "Baby_laughter",
            "Accordion",
            "Lawn_mower",
            "Motorcycle",
            "Helicopter",
            "Acoustic_guitar",
            "Telephone_bell_ringing",
            "Baby_cry_infant_cry",
            "Blender",
            "Clapping");

    private final List<String> names;
    private final Map<String, Integer> index = new HashMap<>();

    public AvvpClasses(List<String> names) {
        if (names == null || names.isEmpty()) {
            throw new IllegalArgumentException("an AVVP task needs at least one class");
        }
        this.names = List.copyOf(names);
        for (int i = 0; i < this.names.size(); i++) {
            String n = this.names.get(i);
            if (n.isBlank() || n.contains(",") || n.chars().anyMatch(Character::isWhitespace)) {
                throw new IllegalArgumentException(
                        "class name '" + n + "' is empty or contains a comma or white space");
            }
            if (index.put(n, i) != null) {
                throw new IllegalArgumentException("class '" + n + "' is listed twice");
            }
        }
    }

    public static AvvpClasses llp() {
        return new AvvpClasses(LLP);
    }

    public int size() {
        return names.size();
    }

    public String name(int i) {
        return names.get(i);
    }

    public List<String> names() {
        return names;
    }

    /** The index of a class, or −1. */
    public int indexOf(String name) {
        return index.getOrDefault(name, -1);
    }

    /** "Speech, Car, ..." for error messages. */
    public String list() {
        return String.join(", ", names);
    }
}
