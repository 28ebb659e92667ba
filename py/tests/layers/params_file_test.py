"""Arguments that only a params file carries, or that look like one, reach pyimage whole.

//py/tests/layers:long_name_layers: a 140 000-character image name; :at_name_layers:
an image name starting with `@`.
"""

import json
import unittest

from layers_outputs import manifest, outputs

NAME = "//long:" + "x" * 140000


class ParamsFileTest(unittest.TestCase):
    def test_an_argument_no_command_line_takes_reaches_the_tool(self) -> None:
        out = outputs("LONG_NAME_LAYERS")
        plan = out[".plan.json"].read_text()
        self.assertNotIn("x" * 140001, plan)
        # The planner names the image in its reasons, whole.
        self.assertIn("{" + NAME + "}", json.loads(plan)["layers"][0]["reason"])
        layers = manifest(out[".layout"])["layers"]
        held = ",".join(lay["annotations"]["dev.rules-pyimage.packages"] for lay in layers)
        self.assertEqual(held.split(","), ["attrs==24.2.0", "cattrs==24.1.2", "six==1.16.0"])

    def test_an_image_name_starting_with_at_is_a_name_not_a_params_file(self) -> None:
        plan = json.loads(outputs("AT_NAME_LAYERS")[".plan.json"].read_text())
        self.assertIn("{@org/app}", plan["layers"][0]["reason"])


if __name__ == "__main__":
    unittest.main()
