"""Certificate rules beyond Cohen et al.'s CERTIFY: each turns outcome counts into predictions and radii."""
