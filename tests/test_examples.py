"""Every built-in example against finite differences and every installed autodiff."""

import pytest
from conftest import AUTODIFF, assert_matches

import symbp as sb
from symbp.examples import EXAMPLES


@pytest.mark.parametrize("name", list(EXAMPLES))
@pytest.mark.parametrize("reference", ["fd", *AUTODIFF])
def test_example_gradients_match_reference(name, reference):
    report = sb.check(EXAMPLES[name](), reference)
    assert report.max_error <= report.rtol


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_example_matches_autograd_on_several_random_points(name):
    model = EXAMPLES[name]()
    for seed in (1, 2, 3):
        assert_matches(model, ["autograd"], seed=seed)


def test_shopping_values_are_the_lessons():
    model = EXAMPLES["shopping"]()
    d = sb.derive(model)
    values = {p.name: float(v) for p, v in model.values.items()}
    loss, grads = sb.compile(d).loss_and_grad(values)
    assert loss == pytest.approx(700)
    assert grads["discount"] == pytest.approx(1000)
    assert grads["shirt_price"] == pytest.approx(0.7)
    assert grads["pants_price"] == pytest.approx(1.4)
    assert grads["pants_count"] == pytest.approx(210)


def test_apples_values_are_saitos():
    model = EXAMPLES["apples"]()
    values = {p.name: float(v) for p, v in model.values.items()}
    loss, grads = sb.compile(sb.derive(model)).loss_and_grad(values)
    assert loss == pytest.approx(715)
    assert grads["apple_price"] == pytest.approx(2.2)
    assert grads["apple_count"] == pytest.approx(110)
    assert grads["orange_price"] == pytest.approx(3.3)
    assert grads["orange_count"] == pytest.approx(165)
    assert grads["tax"] == pytest.approx(650)
