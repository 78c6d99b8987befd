"""Say whether film reviews sound positive (fresh) or negative (rotten), with a classifier saved by dlbook.

    python scripts/predict_sentiment.py --model sentiment.pt "A gripping, funny film." "Dull."
    echo "Not bad at all." | python scripts/predict_sentiment.py --model sentiment.pt

Each review is one argument, or one line on standard input when there are none. Prints one line per review,
``<class><TAB><probability of that class><TAB><review>``. The model file is one written by
``dlbook.models.text_classifier.save_classifier`` and is loaded with ``weights_only=True`` (no code runs).
Exit status 0 on success, 2 for bad input (an empty review, no reviews, a review longer than --max-chars) and
1 when the model file is missing or is not such a model; the message on standard error says what to do.
"""

import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("reviews", nargs="*", help="reviews to classify; default: one per line of standard input")
    parser.add_argument("--model", required=True, help="a file written by save_classifier")
    parser.add_argument("--max-chars", type=int, default=2000, help="longest review accepted (default 2000)")
    args = parser.parse_args(argv)
    reviews = args.reviews if args.reviews else [line.rstrip("\n") for line in sys.stdin]
    if not reviews:
        print("error: no reviews given: pass them as arguments or one per line on standard input.", file=sys.stderr)
        return 2
    for number, review in enumerate(reviews, start=1):
        if not review.strip():
            print(f"error: review {number} is empty: give some text to classify.", file=sys.stderr)
            return 2
        if len(review) > args.max_chars:
            print(f"error: review {number} has {len(review):,} characters, more than --max-chars={args.max_chars}: "
                  "shorten it or raise the limit.", file=sys.stderr)  # fmt: skip
            return 2
    import torch  # only now: bad input is refused without the wait for torch to load

    from dlbook.models.text_classifier import load_classifier

    try:
        model, vocab, classes = load_classifier(args.model)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    with torch.no_grad():
        probabilities = model(vocab.encode(reviews)).softmax(-1)  # (n, classes)
    for review, p in zip(reviews, probabilities, strict=True):
        label = int(p.argmax())
        print(f"{classes[label]}\t{p[label]:.3f}\t{review}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
