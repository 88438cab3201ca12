"""Every shipped recipe is valid against the registered steps."""
from __future__ import annotations

import pytest

from thresher.pipelines.recipe.model import load_recipe
from thresher.pipelines.recipe.registry import STEPS
from tests.conftest import PROJECT_ROOT

RECIPES = sorted((PROJECT_ROOT / "recipes").glob("*.yaml"))


def test_recipes_exist():
    names = {p.stem for p in RECIPES}
    assert {"quickstart", "c4"} <= names


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_recipe_is_valid(path):
    recipe = load_recipe(str(path), STEPS)
    assert recipe.steps and recipe.name == path.stem
    for spec in recipe.steps:
        STEPS[spec.step](**spec.params)  # constructs with the recipe's parameters
